"""Pull counts and last-pulled times, batched so a pull never waits on a write.

Lifecycle rules (``sinceImagePulled``) and the UI read these; exact to within one
flush interval, and flushed on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from cargohold.metadata.store import MetadataStore, PullEvent

log = logging.getLogger(__name__)


class PullRecorder:
    def __init__(self, store: MetadataStore, interval: float) -> None:
        self._store = store
        self._interval = interval
        self._events: list[PullEvent] = []
        self._task: asyncio.Task[None] | None = None

    def record(self, repository: str, digest: str, tag: str | None) -> None:
        self._events.append(PullEvent(repository, digest, tag, datetime.now(UTC)))

    async def flush(self) -> None:
        events, self._events = self._events, []
        if events:
            try:
                await self._store.record_pulls(events)
            except Exception:
                log.exception("could not record %d pull events", len(events))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

"""Several worker processes opening one fresh SQLite database at the same moment."""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.synchronize import Event
from pathlib import Path

from cargohold.metadata.sql import SqlMetadataStore


def _open_and_create(url: str, start: Event) -> None:
    store = SqlMetadataStore(url)
    start.wait()
    with store.engine.connect():
        pass  # what each worker does first: connect, which switches the file to WAL

    async def run() -> None:
        await store.create_schema()
        await store.link_blob("team/app", "sha256:" + "a" * 64, 1)
        await store.close()

    asyncio.run(run())


def test_workers_open_a_fresh_database_together(tmp_path: Path) -> None:
    # Workers switching a new database to WAL at once used to fail with "database
    # is locked": SQLite answers that lock conflict without waiting.
    ctx = multiprocessing.get_context("fork")
    for attempt in range(30):
        url = f"sqlite:///{tmp_path / f'meta{attempt}.db'}"
        start = ctx.Event()
        procs = [ctx.Process(target=_open_and_create, args=(url, start)) for _ in range(6)]
        for p in procs:
            p.start()
        start.set()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * len(procs), f"attempt {attempt}"

"""The scheduled round in several processes sharing one database: each job runs
once per interval in all, not once per process."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest

from cargohold.config import Settings
from cargohold.services import build_registry

pytestmark = pytest.mark.anyio


async def test_jobs_run_once_per_interval_across_workers(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        # GC's shorter interval makes the loop tick four times per lifecycle interval.
        governance={"lifecycle_interval_seconds": 1.0},
        gc={"interval_seconds": 0.25},
    )
    registries = [build_registry(settings) for _ in range(3)]
    runs: list[float] = []
    loop = asyncio.get_running_loop()

    async def job() -> None:
        runs.append(loop.time())

    for registry in registries:
        await registry.open()
        registry.scheduled_jobs.append(job)
    try:
        await asyncio.sleep(4.4)
    finally:
        for registry in registries:
            await registry.close()
    # Three processes, each due once a second: about four runs, not twelve.
    assert 2 <= len(runs) <= 5, runs
    gaps = [b - a for a, b in itertools.pairwise(runs)]
    assert all(gap > 0.9 for gap in gaps), gaps

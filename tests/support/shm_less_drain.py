"""One drain of PLEXUS_ACCOUNT_KEY's jobs, as a function would run it, in a process whose
/dev/shm is unusable (run under `unshare -m` with a read-only tmpfs over it, as
tests/worker/test_runaway.py does): first it shows that multiprocessing's shared-memory
primitives fail here, as they do in Lambda, then it prints each job's outcome as JSON."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from typing import Any


def shm_primitives() -> dict[str, str]:
    results = {}
    for name in ("Lock", "Queue", "Pool"):
        try:
            made = getattr(multiprocessing, name)()
        except OSError as exc:
            results[name] = f"OSError errno {exc.errno}"
        else:
            results[name] = "works"
            if name == "Pool":
                made.terminate()
    return results


async def drain() -> list[dict[str, Any]]:
    from plexus.clients.plexus_api import PlexusApi
    from plexus.core.settings import load_settings
    from plexus.worker.processor import JobProcessor

    settings = load_settings()
    assert settings.account_key is not None
    async with PlexusApi(settings) as api, JobProcessor(settings, api) as processor:
        summary = await processor.drain(settings.account_key)
    return [
        {"id": o.job_id, "status": str(o.status), "reason": o.reason, "seconds": o.seconds}
        for o in summary.outcomes
    ]


if __name__ == "__main__":
    shm = shm_primitives()
    started = time.perf_counter()
    outcomes = asyncio.run(drain())
    wall = time.perf_counter() - started
    print(json.dumps({"shm": shm, "outcomes": outcomes, "seconds": wall}))

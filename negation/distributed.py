"""negscan's shards as parallel tasks (``--engine ray``): the task that scans one shard, and the
driver side that saves each result the moment it arrives.

:func:`negation.scanning.scan_units` calls :func:`scan_in_parallel` for the shards that have no
finished partial yet, then takes the results in shard order through its usual code (errors,
``--skip-bad``, combine), so the report is the one a local scan writes.
"""

from __future__ import annotations

from collections.abc import Callable

from corpora.captions import READ_ERRORS, ShardError, unreadable
from corpora.executors import Resources
from negation.analysis import scan
from negation.scan import ScanOptions, ScanResult
from negation.scanning import Unit
from negation.store import ResultStore

# a remote shard is read one row group at a time, but keeps its candidates: ask for room, on the
# safe side
REMOTE_MEMORY_PER_BYTE = 2


def scan_task(item: tuple[Unit, ScanOptions]) -> ScanResult | Exception:
    """Scan one unit where the task runs. A bad shard comes back as its exception (a value, so
    that it is neither retried nor wrapped); any other failure raises."""
    unit, opts = item
    try:
        return scan(unit.captions(), opts, unit.shard.url)
    except ShardError as exc:
        return exc
    except READ_ERRORS as exc:  # (what failed() makes of it: a Polars panic does not travel)
        return unreadable(unit.shard.url, exc)


def _resources(item: tuple[Unit, ScanOptions]) -> Resources:
    shard = item[0].shard
    return Resources(cpus=1, memory=None if shard.is_local else REMOTE_MEMORY_PER_BYTE * shard.size)


def scan_in_parallel(
    executor,
    units: list[Unit],
    opts: ScanOptions,
    store: ResultStore | None,
    on_done: Callable[[Unit, int, bool], None] | None,
) -> dict[str, ScanResult | Exception]:
    """Scan ``units`` with ``executor``; save each result as it arrives (so a killed driver
    loses nothing finished) and report it to ``on_done``. Returns shard key → result or error.
    Errors are not raised here: the caller meets them in shard order, as a local scan would."""
    arrived: dict[str, ScanResult | Exception] = {}
    items = [(unit, opts) for unit in units]
    for i, result in executor.map(scan_task, items, _resources):
        unit = units[i]
        if isinstance(result, ScanResult):
            if store:
                store.save(unit.shard, result)
            if on_done:
                on_done(unit, result.n_rows, False)
        arrived[unit.shard.key] = result
    return arrived

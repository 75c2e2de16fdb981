"""Where units of work run: in this process one after another (``local``), or as Ray tasks
(``ray``), plus the slices of a job array.

The runners that loop over units (negscan's shards, mlrtrain's sweep runs) hand their unfinished
units to an executor and take the results as they complete; the driver alone writes the result
directory, so every engine gives the same files. ``ray`` follows img2dataset's distributor: one
plain ``@ray.remote`` task per unit (no Ray Data, no Tune), with ``num_cpus`` / ``num_gpus``, a
``memory`` scheduling hint and ``max_retries`` (a task whose worker dies is run again).

:func:`start_ray` starts (or attaches to) Ray with explicit defaults instead of Ray's surprising
ones: a local Ray keeps its temporary files (sessions, logs, Unix sockets) in a user directory
on a path short enough for its sockets, never in a result directory (a folder with sockets in it
cannot be copied), its object store is capped, and the driver's working
directory does not end up first on the workers' ``sys.path`` (where a folder named like a package
would shadow it); the workers import this code from where the driver does.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ENGINES = ("local", "ray")
RAY_MISSING = "--engine ray needs Ray, which is not installed: pip install 'notclip[ray]'"
DEFAULT_OBJECT_STORE = 1 << 30  # bytes: Ray's default is 30 % of the machine's memory
DEFAULT_MAX_RETRIES = 3
IN_FLIGHT_PER_CPU = 2  # tasks submitted per CPU of the cluster: one running, one waiting
SETTLE_SECONDS = 60  # how long a driver that stops early waits for its cancelled tasks to end
# Ray puts sockets at TEMP/session_<date>_<pid>/sockets/plasma_store; Unix socket paths are at
# most 107 bytes, which leaves about 40 for TEMP.
MAX_TEMP_DIR = 40


def take_slice(items: Sequence[T], index: int, count: int) -> list[T]:
    """Element ``index`` (0-based) of a job array of ``count``: a contiguous block of ``items``.

    The blocks are balanced (their sizes differ by at most one) and, taken in index order, they
    partition ``items`` exactly: no item is left out or given twice.
    """
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"slice index {index} of {count}: need 0 <= index < count")
    n = len(items)
    return list(items[index * n // count : (index + 1) * n // count])


class ClusterLost(ConnectionError):
    """The Ray cluster went away (its head stopped, the connection dropped) or lost a task for
    good: not the task's own error."""


@dataclass(frozen=True)
class Resources:
    """What one task asks of the cluster (``memory`` in bytes is a scheduling hint)."""

    cpus: float = 1
    gpus: float = 0
    memory: int | None = None


class LocalExecutor:
    """In this process, in order: exactly the loop the runners had before."""

    parallel = False

    def map(
        self,
        fn: Callable[[T], Any],
        items: Iterable[T],
        resources: Resources | Callable[[T], Resources] = Resources(),
    ) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self) -> None: ...


class RayExecutor:
    """One Ray task per item; results are yielded as the tasks finish (not in item order).

    ``in_flight`` caps the tasks submitted and not yet taken (None: :data:`IN_FLIGHT_PER_CPU`
    per CPU of the cluster): enough to keep every worker busy, few enough that the driver's
    cost per task does not grow with the number of items (Ray's bookkeeping, and each
    ``ray.wait``, grow with the tasks pending). An exception raised by ``fn`` propagates with its
    remote traceback; a task whose worker process dies is retried up to ``max_retries`` times.
    """

    parallel = True

    def __init__(
        self,
        ray: Any,
        *,
        owned: bool,
        in_flight: int | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
    ) -> None:
        self.ray, self.owned = ray, owned
        self.in_flight = in_flight
        self.max_retries = max_retries

    def _options(self, r: Resources) -> dict[str, Any]:
        threads = str(max(1, int(r.cpus)))
        opts: dict[str, Any] = {
            "num_cpus": r.cpus,
            "num_gpus": r.gpus,
            "max_retries": self.max_retries,
            "runtime_env": {"env_vars": {"POLARS_MAX_THREADS": threads}},
        }
        if r.memory:
            opts["memory"] = int(r.memory)
        return opts

    def map(
        self,
        fn: Callable[[T], Any],
        items: Iterable[T],
        resources: Resources | Callable[[T], Resources] = Resources(),
    ) -> Iterator[tuple[int, Any]]:
        ray = self.ray
        remote = ray.remote(fn)
        queue = iter(enumerate(items))
        index: dict[Any, int] = {}

        def submit(n: int) -> None:
            for i, item in _take(queue, n):
                r = resources(item) if callable(resources) else resources
                index[remote.options(**self._options(r)).remote(item)] = i

        try:
            submit(self.capacity())
            while index:
                ready, _ = ray.wait(list(index), num_returns=1)
                for ref in ready:
                    i = index.pop(ref)
                    value = ray.get(ref)
                    submit(1)
                    yield i, value
        except Exception as exc:
            if isinstance(exc, ray.exceptions.RayTaskError) or not isinstance(
                exc, ray.exceptions.RayError | ConnectionError
            ):
                raise  # (a task's own error, with its remote traceback)
            why = (str(exc).strip().splitlines() or [""])[0]
            raise ClusterLost(f"Ray lost the job ({type(exc).__name__}: {why})") from exc
        finally:  # closed early (an error, Ctrl-C): no task is left running for nobody, or
            # writing after this returns (tasks may write results of their own)
            with contextlib.suppress(Exception):  # (not when the cluster is gone)
                for ref in index:
                    ray.cancel(ref)
                if index:
                    ray.wait(list(index), num_returns=len(index), timeout=SETTLE_SECONDS)

    def capacity(self) -> int:
        """The tasks kept in flight: ``in_flight``, else IN_FLIGHT_PER_CPU per cluster CPU."""
        if self.in_flight:
            return self.in_flight
        return max(1, int(IN_FLIGHT_PER_CPU * self.ray.cluster_resources().get("CPU", 1)))

    def close(self) -> None:
        if self.owned and self.ray.is_initialized():
            with contextlib.suppress(Exception):  # (a cluster already gone)
                self.ray.shutdown()


def _take(it: Iterator[T], n: int) -> Iterable[T]:
    for _ in range(n):
        try:
            yield next(it)
        except StopIteration:
            return


def import_ray() -> Any:
    """The ``ray`` module, or a ``ValueError`` whose one line names the extra to install."""
    try:
        import ray
    except ImportError:
        raise ValueError(RAY_MISSING) from None
    return ray


def _package_root() -> str:
    """The directory that holds this package (and its siblings negation/, mlr/)."""
    return str(Path(__file__).resolve().parent.parent)


def ray_temp_dir() -> str:
    """Where a local Ray keeps its sessions: ``~/.cache/notclip/ray`` when that path is short
    enough for Ray's Unix socket paths, else a new directory in /tmp."""
    path = Path.home() / ".cache" / "notclip" / "ray"
    if len(str(path)) <= MAX_TEMP_DIR:
        path.mkdir(parents=True, exist_ok=True)
        return str(path)
    return tempfile.mkdtemp(prefix="notclip-ray-", dir="/tmp" if os.path.isdir("/tmp") else None)


def start_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    temp_dir: str | None = None,
    object_store_bytes: int = DEFAULT_OBJECT_STORE,
    runtime_env: dict[str, Any] | None = None,
) -> tuple[Any, bool]:
    """Start a local Ray (``address`` None) or attach to a cluster (``auto``, ``ray://H:P``).

    Returns ``(ray, owned)``; ``owned`` is False when Ray was already initialised in this process
    (then it is used as it is). A local Ray gets ``num_cpus`` (None: every core), a temporary
    directory (``temp_dir``, else :func:`ray_temp_dir`), an object store of
    ``object_store_bytes``, and no dashboard. ``runtime_env`` is added to the job's (e.g. a
    ``worker_process_setup_hook``).
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray, False
    client = bool(address) and str(address).startswith("ray://")
    kwargs: dict[str, Any] = {"logging_level": "WARNING", "runtime_env": dict(runtime_env or {})}
    if not client:  # workers import notclip from where this driver does, before the cwd
        path = [_package_root(), os.environ.get("PYTHONPATH", "")]
        env = {"PYTHONPATH": os.pathsep.join(p for p in path if p)}
        kwargs["runtime_env"]["env_vars"] = env | kwargs["runtime_env"].get("env_vars", {})
    temp_dir = temp_dir or ray_temp_dir()
    Path(temp_dir).mkdir(parents=True, exist_ok=True)
    if address:
        kwargs["address"] = address
    else:
        kwargs |= {
            "num_cpus": num_cpus,
            "num_gpus": num_gpus,
            "_temp_dir": temp_dir,
            "object_store_memory": object_store_bytes,
            "include_dashboard": False,
        }
    # Ray puts the driver's working directory on every worker's sys.path (and a local Ray's
    # processes run in it): make it Ray's own temporary directory, which holds no packages.
    with contextlib.chdir(temp_dir):
        ray.init(**kwargs)
    return ray, True


def make_executor(
    engine: str,
    *,
    address: str | None = None,
    workers: int | None = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
) -> LocalExecutor | RayExecutor:
    """The executor of ``--engine``: ``local``, or ``ray`` (a local Ray with ``workers`` CPUs,
    its temporary files in :func:`ray_temp_dir`; or the cluster at ``address`` or else at
    ``$RAY_ADDRESS``, with at most ``workers`` tasks in flight; by default
    :data:`IN_FLIGHT_PER_CPU` per CPU))."""
    if engine == "local":
        return LocalExecutor()
    if engine != "ray":
        raise ValueError(f"--engine {engine!r}: use one of {', '.join(ENGINES)}")
    address = address or os.environ.get("RAY_ADDRESS") or None  # (Ray's own way to name one)
    ray, owned = start_ray(address, num_cpus=workers)
    in_flight = workers if address else None  # (a local Ray has ``workers`` CPUs)
    return RayExecutor(ray, owned=owned, in_flight=in_flight, max_retries=max_retries)

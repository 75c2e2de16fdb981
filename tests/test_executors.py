"""corpora/executors.py without a Ray cluster: a stand-in for the ``ray`` module records what the
driver submits and waits on, so that its cost per task is checked without timing anything."""

from __future__ import annotations

import pytest

from corpora.executors import IN_FLIGHT_PER_CPU, RayExecutor

try:
    import ray
except ImportError:  # (only the tests that lose a cluster need its exception types)
    ray = None


class FakeRay:
    """Runs each task when it is submitted; records the tasks pending at each ``wait``."""

    exceptions = ray.exceptions if ray else None

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus
        self.results: dict[int, object] = {}
        self.waited: list[int] = []  # pending tasks at each ray.wait
        self.cancelled: list[int] = []

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": float(self.cpus)}

    def remote(self, fn):
        fake = self

        class Remote:
            def options(self, **_):
                return self

            def remote(self, item):
                ref = len(fake.results)
                fake.results[ref] = fn(item)
                return ref

        return Remote()

    def wait(self, refs, num_returns=1, timeout=None):
        self.waited.append(len(refs))
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return self.results[ref]

    def cancel(self, ref):
        self.cancelled.append(ref)


def test_tasks_in_flight_are_capped_per_cpu_by_default_so_each_wait_stays_small():
    ray = FakeRay(cpus=3)
    items = list(range(1000))
    out = dict(RayExecutor(ray, owned=False).map(lambda x: x * x, items))
    assert out == {i: i * i for i in items}
    assert max(ray.waited) == IN_FLIGHT_PER_CPU * 3  # not 1000: flat in the number of items
    capped = FakeRay(cpus=3)
    assert dict(RayExecutor(capped, owned=False, in_flight=5).map(str, items)) == {
        i: str(i) for i in items
    }
    assert max(capped.waited) == 5


def test_tasks_still_pending_are_cancelled_when_the_driver_stops_early():
    ray = FakeRay(cpus=2)
    results = RayExecutor(ray, owned=False).map(lambda x: x, range(100))
    next(results)
    results.close()
    assert len(ray.cancelled) == IN_FLIGHT_PER_CPU * 2 and len(ray.results) <= 5


def test_ray_address_from_the_environment_is_the_cluster_connected_to(monkeypatch):
    import corpora.executors as ex

    started = {}

    def start(address=None, **kwargs):
        started.update(kwargs, address=address)
        return FakeRay(cpus=8), True

    monkeypatch.setattr(ex, "start_ray", start)
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    executor = ex.make_executor("ray", workers=3)
    assert started["address"] == "ray://head:10001" and executor.capacity() == 3


def test_losing_the_ray_head_mid_run_is_one_line_saying_what_was_kept(tmp_path, monkeypatch):
    """Tasks run in this process (FakeRay); the cluster goes away after the second batch."""
    pytest.importorskip("ray")
    from test_negscan_cli import invoke, shards

    import corpora.executors as ex

    class Lost(FakeRay):
        def wait(self, refs, num_returns=1, timeout=None):
            if len(self.waited) == 2:
                raise ray.exceptions.RaySystemError("GCS connection lost: the head is gone")
            return super().wait(refs, num_returns, timeout)

    monkeypatch.setattr(ex, "start_ray", lambda *a, **k: (Lost(cpus=1), False))
    shards(tmp_path)
    out = tmp_path / "out"
    lost = invoke("laion", tmp_path / "in", "--engine", "ray", "--out", out, "--quiet")
    assert lost.exit_code == 1, lost.output
    said = " ".join(lost.output.split())
    assert "Ray lost the job (RaySystemError: System error: GCS connection lost" in said
    assert f"3 finished shard(s) are kept in {out}: rerun the same command to resume" in said
    assert "Traceback" not in lost.output and len(lost.output.strip().splitlines()) <= 3

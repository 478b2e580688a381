"""A real Dask cluster for the tests: ``dask scheduler`` and ``dask worker`` processes over TCP.

Each worker runs in a folder of its own outside the repository, with its own environment (a HOME
and a YANEX_HOME of its own, not the test's), so it shares nothing with the orchestrator but the
network.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DASK = str(Path(sys.executable).with_name("dask"))


def _wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.scheduler_file = root / "scheduler.json"
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        env = self._env(root / "scheduler-home")
        self.scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
             "--scheduler-file", str(self.scheduler_file)],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=(root / "scheduler.log").open("wb"),
        )  # fmt: skip
        _wait_for(self.scheduler_file.exists, "the scheduler file")
        _wait_for(lambda: "address" in self.scheduler_file.read_text(), "the scheduler address")
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        self.url = "dask://" + self.address.removeprefix("tcp://")
        self._count = 0

    def _env(self, home: Path) -> dict[str, str]:
        home.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("YANEX_")}
        env["HOME"] = str(home)
        env["YANEX_HOME"] = str(home / "yanex-home")
        return env

    def add_worker(self) -> str:
        """Start one more single-threaded worker; returns its name."""
        self._count += 1
        name = f"w{self._count}"
        folder = self.root / name
        folder.mkdir()
        self.workers[name] = subprocess.Popen(
            [DASK, "worker", "--scheduler-file", str(self.scheduler_file), "--nthreads", "1",
             "--no-nanny", "--no-dashboard", "--name", name, "--local-directory", str(folder),
             "--host", "127.0.0.1"],
            cwd=folder, env=self._env(folder / "home"), stdout=subprocess.DEVNULL,
            stderr=(folder / "worker.log").open("wb"),
        )  # fmt: skip
        return name

    def kill_worker(self, name: str) -> None:
        process = self.workers.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def spools(self) -> list[Path]:
        return sorted(self.root.glob("w*/home/.yanex-spool"))

    def spool_of(self, experiment_id: str) -> Path:
        """The spool of the worker that ran the experiment."""
        [spool] = [spool for spool in self.spools() if (spool / experiment_id).is_dir()]
        return spool

    def yanex_homes(self) -> list[Path]:
        """Each worker's YANEX_HOME (none is the test's)."""
        return [folder / "home" / "yanex-home" for folder in sorted(self.root.glob("w*"))]

    def close(self) -> None:
        for process in [*self.workers.values(), self.scheduler]:
            process.terminate()
        for process in [*self.workers.values(), self.scheduler]:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def worker_cluster(folder: Path, workers: int = 2) -> Iterator[Cluster]:
    """A scheduler and ``workers`` workers (for a test module, a benchmark), stopped however the
    caller ends."""
    cluster = Cluster(folder)
    try:
        for _ in range(workers):
            cluster.add_worker()
        yield cluster
    finally:
        cluster.close()


@contextmanager
def cluster_client(folder: Path, workers: int) -> Iterator[Any]:
    """A ``distributed.Client`` of a new ``worker_cluster`` with all its workers up."""
    import distributed

    with worker_cluster(folder, workers) as cluster:
        client: Any = distributed.Client(cluster.address, set_as_default=False)  # untyped
        with client:
            client.wait_for_workers(workers, timeout=60)
            yield client

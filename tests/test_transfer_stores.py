"""Two stores that share some experiments and not others, moved both ways with real scripts.

Store A runs a train -> evaluate pipeline (an artifact crosses it), a sweep (`-p "a=range(3)"`,
one point fails) and an experiment that blocks on a file; store B runs its own experiment and
imports A's pipeline. A is exported while the blocker runs and again once it has finished; B is
exported back. Every import is a real `yanex` process; the results are read back through the
Typer runner, in both stores, and must read the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import wait_until
from yanex.cli.app import app

runner = CliRunner()

SCRIPTS = {
    "train.py": """
        import yanex
        lr = yanex.get_param("lr", 0.1)
        for step in range(20):
            yanex.log_metrics({"loss": lr / (step + 1), "acc": step / 20}, step=step)
        yanex.save_artifact({"slope": 2.0, "lr": lr}, "model.json")
        print("trained", lr)
        """,
    "evaluate.py": """
        import yanex
        model = yanex.load_artifact("model.json", experiment=yanex.dependency())
        yanex.log_metrics({"mse": abs(model["slope"] - 1.9)})
        print("evaluated")
        """,
    "sweep.py": """
        import sys, yanex
        a = yanex.get_param("a")
        yanex.log_metrics({"score": a * 10})
        sys.exit(1 if a == 2 else 0)
        """,
    "block.py": """
        import os, time, yanex
        for step in range(5):
            yanex.log_metrics({"v": step}, step=step)
        while not os.path.exists(yanex.get_param("release")):
            time.sleep(0.02)
        for step in range(5, 12):
            yanex.log_metrics({"v": step}, step=step)
        print("released")
        """,
}


class Store:
    """A YANEX_HOME, used by real `yanex` processes and by the Typer runner."""

    def __init__(self, home: Path, code: Path) -> None:
        self.home, self.code = home, code

    def env(self) -> dict[str, str]:
        return {**os.environ, "YANEX_HOME": str(self.home)}

    def yanex(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "yanex", *args],
            cwd=self.code,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done.stdout

    def query(self, *args: str) -> str:
        result = runner.invoke(app, list(args), env={"YANEX_HOME": str(self.home)})
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result.stdout

    def id_of(self, name: str) -> str:
        return self.query("get", "id", "--name", name).strip()

    def shown(self, reference: str) -> dict[str, Any]:
        """`yanex show --format json`, but when this store got it (which only an import sets)."""
        shown: dict[str, Any] = json.loads(self.query("show", reference, "--format", "json"))
        shown.pop("imported_at")
        return shown


def imported(target: Store, file: Path) -> list[str]:
    return target.yanex("import", str(file)).splitlines()


@pytest.mark.slow
def test_two_stores_exchange_experiments_both_ways(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    for name, body in SCRIPTS.items():
        (code / name).write_text(textwrap.dedent(body))
    a, b = Store(tmp_path / "a", code), Store(tmp_path / "b", code)

    a.yanex("run", "train.py", "-p", "lr=0.5", "--name", "train")
    a.yanex("run", "evaluate.py", "--depends-on", a.id_of("train"), "--name", "evaluate")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "yanex",
            "run",
            "sweep.py",
            "-p",
            "a=range(3)",
            "--name",
            "sweep",
            "--tag",
            "sweep",
        ],
        cwd=code,
        env=a.env(),
        capture_output=True,
        timeout=120,
    )  # exits 1: one point failed
    release = tmp_path / "release"
    blocker = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", "block.py", "-p", f"release={release}", "--name", "blocker"],
        cwd=code,
        env=a.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        b.yanex("run", "train.py", "-p", "lr=0.01", "--name", "b-own")
        # B takes A's pipeline first: the stores now overlap.
        a.yanex("export", "evaluate", "-o", str(tmp_path / "pipeline.tar"))
        assert "  added 2 experiments, 41 points, 1 artifact, 1 blob (31 B)" in imported(
            b, tmp_path / "pipeline.tar"
        )
        wait_until(
            lambda: a.query("get", "metrics.v.count", "blocker").strip() == "5", "the blocker's points"
        )
        a.yanex("export", "--all", "-o", str(tmp_path / "a-running.tar"))
        lines = imported(b, tmp_path / "a-running.tar")
        assert "  added 4 experiments, 8 points, 0 artifacts, 0 blobs (0 B)" in lines
        assert "  skipped 2 experiments: already here, identical" in lines
        assert b.query("get", "status", "blocker").strip() == "running"
        assert "blocker" in b.query("list", "--status", "running")  # B's reads leave it open
        b.yanex("update", "train", "--add-tag", "b-likes-it")
    finally:
        release.touch()
        assert blocker.wait(timeout=120) == 0
    a.yanex("export", "--all", "-o", str(tmp_path / "a-done.tar"))
    train, blocker_id = a.id_of("train"), a.id_of("blocker")
    lines = imported(b, tmp_path / "a-done.tar")
    assert "  added 0 experiments, 7 points, 0 artifacts, 0 blobs (0 B)" in lines
    assert f"  updated {blocker_id[:8]}  blocker: imported while open, now as the source has it" in lines
    assert f"  conflict {train[:8]}  train: tags differ; kept this store's" in lines
    assert "b-likes-it" in b.shown("train")["tags"]

    b.yanex("export", "--all", "-o", str(tmp_path / "b.tar"))
    lines = imported(a, tmp_path / "b.tar")
    assert "  added 1 experiment, 40 points, 1 artifact, 1 blob (32 B)" in lines
    assert f"  conflict {train[:8]}  train: tags differ; kept this store's" in lines
    assert "b-likes-it" not in a.shown("train")["tags"]
    for store, file in ((a, "b.tar"), (b, "a-done.tar"), (b, "a-running.tar")):
        again = imported(store, tmp_path / file)
        assert again[1] == "  added 0 experiments, 0 points, 0 artifacts, 0 blobs (0 B)", (file, again)
        assert not any(line.startswith("  updated") for line in again)

    # Everything imported reads the same in the store it came from and the one it went to.
    for source, target, names in ((a, b, ["evaluate", "blocker", "sweep-a0", "sweep-a2"]), (b, a, ["b-own"])):
        for name in names:
            assert target.shown(name) == source.shown(name), name
    assert b.shown("train") | {"tags": []} == a.shown("train") | {"tags": []}
    assert b.shown("evaluate")["parents"] == [{"id": train, "name": "train", "status": "completed"}]
    for query in (
        ["list", "--all", "--format", "json", "--tag", "sweep"],
        ["compare", "--tag", "sweep", "--format", "json"],
        ["metrics", "blocker"],
        ["metrics", "evaluate"],
        ["get", "metrics.score.best", "--tag", "sweep"],
    ):
        assert a.query(*query) == b.query(*query), query
    assert a.query("artifacts", "get", "train", "model.json", "-o", "-") == b.query(
        "artifacts", "get", "train", "model.json", "-o", "-"
    )
    batch = a.shown("sweep-a0")["batch_id"]
    missing = [json.loads(s.query("sweep", "resume", batch, "--dry-run", "--format", "json")) for s in (a, b)]
    assert missing[0] == missing[1] and len(missing[0]) == 1  # the failed point, a=2
    # A re-run in B of what A's pipeline produced: the dependency's artifact is found in B.
    b.yanex("run", "evaluate.py", "--depends-on", train, "--name", "evaluate-in-b")
    assert b.query("get", "metrics.mse", "evaluate-in-b") == a.query("get", "metrics.mse", "evaluate")

"""System metrics and environment (issue 23): the supervisor samples a script's CPU, memory and GPU
use into ``system/...`` metrics, and records the packages it ran with once per distinct set."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import yanex
from tests.conftest import wait_until, yanex_cli
from yanex.supervisor.packages import nvml

# Holds 500 MB (every page touched) until its stop file appears.
HOLDER = """
import pathlib, sys, time
memory = bytearray(500 * 2**20)
for i in range(0, len(memory), 4096):
    memory[i] = 1
stop = pathlib.Path(sys.argv[1])
deadline = time.monotonic() + 120
while not stop.exists() and time.monotonic() < deadline:
    time.sleep(0.05)
"""


def _system_points(yanex_home: Path) -> dict[str, list[float]]:
    conn = sqlite3.connect(f"{(yanex_home / 'yanex.db').as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT key, value FROM metrics WHERE key LIKE 'system/%' ORDER BY id").fetchall()
    finally:
        conn.close()
    points: dict[str, list[float]] = {}
    for key, value in rows:
        points.setdefault(key, []).append(value)
    return points


def _peak(yanex_home: Path) -> float:
    try:  # the database is made by `yanex run` as the test watches
        return max(_system_points(yanex_home).get("system/memory_mb", [0.0]))
    except sqlite3.OperationalError:
        return 0.0


def test_a_script_holding_500_mb_shows_a_peak_of_500_mb(write_script, tmp_path: Path, yanex_home: Path):
    script = write_script("holder.py", HOLDER)
    stop = tmp_path / "stop"
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "yanex",
            "run",
            str(script),
            "--system-metrics-interval",
            "1",
            "--",
            str(stop),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _peak(yanex_home) >= 500, "a sample of the 500 MB")
    finally:
        stop.touch()
        _, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    points = _system_points(yanex_home)
    assert set(points) == {"system/cpu_percent", "system/memory_mb"}  # no GPU here, and no error
    assert all(value >= 0 for value in points["system/cpu_percent"])
    assert "gpu" not in stderr.lower() and "nvml" not in stderr.lower()
    shown = yanex_cli("show", yanex.find()[0].id)
    [line] = [line for line in shown.stdout.splitlines() if "peak memory" in line]
    assert float(line.split()[2]) >= 500 and "MiB" in line
    # Columns of compare only when named: every run has them, few compare them.
    [row] = json.loads(yanex_cli("compare", "--format", "json").stdout)
    assert not any(key.startswith("system/") for key in row["metrics"])
    [row] = json.loads(yanex_cli("compare", "-m", "system/memory_mb.max", "--format", "json").stdout)
    assert row["metrics"]["system/memory_mb.max"] >= 500


def test_interval_0_records_no_system_metrics(write_script, yanex_home: Path):
    script = write_script("quick.py", "import yanex\nyanex.log_metrics({'loss': 1.0})\n")
    result = yanex_cli("run", str(script), "--system-metrics-interval", "0")
    assert result.returncode == 0, result.stderr
    [batched] = yanex.run_multiple([yanex.ExperimentSpec(script_path=script)], system_metrics_interval=0)
    assert batched.status == "completed"
    assert _system_points(yanex_home) == {}
    assert len(yanex.find()) == 2


def test_a_bad_interval_is_refused_before_anything_runs(write_script, yanex_home: Path, monkeypatch):
    script = write_script("quick.py", "print('ran')\n")
    result = yanex_cli("run", str(script), "--system-metrics-interval", "-1")
    assert result.returncode != 0 and "ran" not in result.stdout
    monkeypatch.setenv("YANEX_SYSTEM_METRICS_INTERVAL", "often")
    result = yanex_cli("run", str(script))
    assert result.returncode == 2 and "ran" not in result.stdout
    assert result.stderr.startswith("Error: YANEX_SYSTEM_METRICS_INTERVAL must be a number of seconds")
    assert "Traceback" not in result.stderr
    monkeypatch.delenv("YANEX_SYSTEM_METRICS_INTERVAL")
    with pytest.raises(ValueError, match="system_metrics_interval"):
        yanex.run_multiple([yanex.ExperimentSpec(script_path=script)], system_metrics_interval=-1)


@pytest.mark.skipif(nvml() is None, reason="no NVIDIA GPU here (NVML, extra [gpu], or its driver is absent)")
def test_gpu_use_is_sampled_where_there_is_a_gpu(write_script, yanex_home: Path):  # pragma: no cover
    script = write_script("wait.py", "import time\ntime.sleep(2.5)\n")
    result = yanex_cli("run", str(script), "--system-metrics-interval", "1")
    assert result.returncode == 0, result.stderr
    points = _system_points(yanex_home)
    assert points["system/gpu0/memory_mb"] and points["system/gpu0/utilization_percent"]


def test_scripts_cannot_log_system_names(write_script):
    script = write_script("forge.py", "import yanex\nyanex.log_metrics({'system/memory_mb': 1.0})\n")
    standalone = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    message = (
        "ValueError: log_metrics cannot log 'system/memory_mb': names starting with 'system/' are "
        "yanex's system metrics; rename it"
    )
    assert standalone.stderr.strip().splitlines()[-1] == message
    result = yanex_cli("run", str(script), "--system-metrics-interval", "0")
    assert result.returncode == 1
    [experiment] = yanex.find()
    assert experiment.error_message == message


def _with_toy_package(folder: Path, version: str) -> Path:
    """A script in ``folder`` beside a distribution ``toypkg`` of ``version``, which its imports
    (and importlib.metadata) find in the script's own folder."""
    metadata = folder / f"toypkg-{version}.dist-info" / "METADATA"
    metadata.parent.mkdir(parents=True)
    metadata.write_text(f"Metadata-Version: 2.1\nName: toypkg\nVersion: {version}\n")
    script = folder / "train.py"
    script.write_text("print('ran')\n")
    return script


def test_show_env_lists_the_packages_the_script_ran_with(tmp_path: Path, yanex_home: Path):
    script = _with_toy_package(tmp_path / "project", "1.0")
    assert yanex_cli("run", str(script), "--name", "toy").returncode == 0
    table = yanex_cli("show", "toy", "--env")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split()[1] for line in table.stdout.splitlines()[2:]}
    assert rows["toypkg"] == "1.0"
    assert rows["pytest"] == pytest.__version__
    as_json = json.loads(yanex_cli("show", "toy", "--env", "--format", "json").stdout)
    assert as_json["packages"]["toypkg"] == "1.0"
    page = yanex_cli("show", "toy").stdout
    assert re.search(rf"packages +{len(as_json['packages'])} \(yanex show \w+ --env\)", page)


def test_compare_packages_shows_what_differs(tmp_path: Path, yanex_home: Path):
    for version in ("1.0", "2.0"):
        script = _with_toy_package(tmp_path / version, version)
        assert yanex_cli("run", str(script), "--name", f"v{version}").returncode == 0
    result = yanex_cli("compare", "v1.0", "v2.0", "--packages", "--format", "json")
    assert result.returncode == 0, result.stderr
    ids = {e.name: e.id for e in yanex.find()}
    assert json.loads(result.stdout) == [
        {"package": "toypkg", "versions": {ids["v1.0"]: "1.0", ids["v2.0"]: "2.0"}}
    ]
    assert yanex_cli("run", str(tmp_path / "1.0" / "train.py"), "--name", "again").returncode == 0
    same = yanex_cli("compare", "v1.0", "again", "--packages")
    assert same.returncode == 0 and "ran with the same packages" in same.stderr


def test_compare_packages_refuses_experiments_without_packages(tmp_path: Path, yanex_home: Path):
    script = _with_toy_package(tmp_path / "a", "1.0")
    assert yanex_cli("run", str(script), "--name", "first").returncode == 0
    assert yanex_cli("run", str(script), "--name", "second").returncode == 0
    conn = sqlite3.connect(yanex_home / "yanex.db")
    with conn:
        conn.execute("UPDATE experiments SET environment_sha256 = NULL")
    conn.close()
    result = yanex_cli("compare", "first", "second", "--packages")
    assert result.returncode == 2
    assert result.stderr.startswith("Error: no recorded packages for ")
    assert "Hint: " in result.stderr and "Traceback" not in result.stderr


def test_each_distinct_set_is_stored_once_and_deleted_with_its_last_experiment(
    tmp_path: Path, yanex_home: Path
):
    script = _with_toy_package(tmp_path / "a", "1.0")
    results = yanex.run_multiple([yanex.ExperimentSpec(script_path=script) for _ in range(3)])
    assert {r.status for r in results} == {"completed"}
    conn = sqlite3.connect(yanex_home / "yanex.db")
    try:
        assert conn.execute("SELECT count(*) FROM environments").fetchone() == (1,)
        assert conn.execute("SELECT count(DISTINCT environment_sha256) FROM experiments").fetchone() == (1,)
        assert yanex_cli("delete", *[r.experiment_id for r in results], "--yes").returncode == 0
        assert conn.execute("SELECT count(*) FROM environments").fetchone() == (0,)
    finally:
        conn.close()

"""``yanex rerun`` as a real subprocess, selecting through the shared filter options."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import yanex

from .conftest import yanex_cli

# Fails on its first run for each counter file, succeeds afterwards.
FLAKY = """
import pathlib, yanex
counter = pathlib.Path(yanex.get_param("counter"))
first = not counter.exists()
counter.touch()
if first and yanex.get_param("flaky"):
    raise RuntimeError("first try fails")
"""


def setup_batches(
    write_script, tmp_path: Path
) -> tuple[list[yanex.ExperimentResult], list[yanex.ExperimentResult]]:
    script = write_script("flaky.py", FLAKY)

    def specs(prefix: str, tag: str) -> list[yanex.ExperimentSpec]:
        return [
            yanex.ExperimentSpec(
                script_path=script,
                config={"counter": str(tmp_path / f"{prefix}{i}"), "flaky": i > 0},
                name=f"{prefix}{i}",
                tags=[tag],
            )
            for i in range(3)
        ]

    return yanex.run_multiple(specs("a", "alpha"), parallel=2), yanex.run_multiple(specs("b", "beta"))


def retry_links(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / "yanex.db") as conn:
        return dict(conn.execute("SELECT retry_of, id FROM experiments WHERE retry_of IS NOT NULL"))


def test_rerun_failed_by_tag_reruns_only_those(write_script, tmp_path, yanex_home):
    alpha, _ = setup_batches(write_script, tmp_path)
    failed_alpha = {r.experiment_id for r in alpha if r.status == "failed"}
    assert len(failed_alpha) == 2
    result = yanex_cli("rerun", "--status", "failed", "--tag", "alpha", "--parallel", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all("  completed  a" in line for line in lines)
    links = retry_links(yanex_home)
    assert set(links) == failed_alpha
    assert all(f"(re-run of {old})" in result.stdout and links[old] in result.stdout for old in links)


def test_rerun_by_batch_and_by_id(write_script, tmp_path, yanex_home):
    _, beta = setup_batches(write_script, tmp_path)
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        [(batch,)] = conn.execute("SELECT batch_id FROM experiments WHERE id = ?", (beta[0].experiment_id,))
    result = yanex_cli("rerun", "--status", "failed", "--batch", batch)
    assert result.returncode == 0, result.stderr
    assert set(retry_links(yanex_home)) == {r.experiment_id for r in beta if r.status == "failed"}
    by_name = yanex_cli("rerun", "b0")
    assert by_name.returncode == 0 and "(re-run of " + beta[0].experiment_id + ")" in by_name.stdout


def test_rerun_exits_1_when_a_rerun_fails(write_script, yanex_home):
    [failed] = yanex.run_multiple(
        [yanex.ExperimentSpec(script_path=write_script("bad.py", "1/0\n"), name="bad")]
    )
    result = yanex_cli("rerun", failed.experiment_id)
    assert result.returncode == 1
    assert result.stdout.rstrip().endswith(
        f"(re-run of {failed.experiment_id}): ZeroDivisionError: division by zero"
    )


def test_rerun_user_errors_are_one_line_with_a_hint(write_script, yanex_home):
    yanex.run_multiple([yanex.ExperimentSpec(script_path=write_script("ok.py", "pass\n"))])
    cases = [
        ((), 2, "Error: say which experiments to re-run"),
        (("--status", "failed"), 1, "Error: no experiments match, nothing to re-run"),
        (("--status", "broken"), 2, "Error: "),
        (("--tag", "x", "--parallel", "-1"), 2, "Error: Invalid value for '--parallel'"),
    ]
    for args, code, message in cases:
        result = yanex_cli("rerun", *args)
        assert result.returncode == code, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    assert "Hint: " in yanex_cli("rerun").stderr


def test_rerun_selects_the_latest_attempt_of_each_lineage(write_script, yanex_home):
    script = write_script("bad.py", "1/0\n")
    specs = [yanex.ExperimentSpec(script_path=script, name=f"bad{i}", config={"i": i}) for i in range(2)]
    first = yanex.run_multiple(specs)
    assert yanex_cli("rerun", "--status", "failed").stdout.count("re-run of") == 2
    # Each spec now has two failed attempts; only the latest of each is re-run (was 4 rows).
    again = yanex_cli("rerun", "--status", "failed")
    assert again.returncode == 1 and again.stdout.count("re-run of") == 2
    assert not any(f"re-run of {r.experiment_id}" in again.stdout for r in first)
    latest = yanex_cli("list", "--status", "failed", "--latest-attempts").stdout.splitlines()
    assert len(latest) == 2 and len(yanex.find(status="failed", latest_attempts=True)) == 2
    everything = yanex_cli("rerun", "--status", "failed", "--all-attempts")
    assert everything.stdout.count("re-run of") == 6
    shown = yanex_cli("show", first[0].experiment_id).stdout
    assert "re-run as" in shown


def test_retries_leave_one_lineage_rerun_once(write_script, yanex_home):
    script = write_script("bad.py", "1/0\n")
    yanex.run_multiple([yanex.ExperimentSpec(script_path=script, name="bad")], retries=2)
    assert len(yanex.find(status="failed")) == 3
    result = yanex_cli("rerun", "--status", "failed")
    assert result.returncode == 1 and result.stdout.count("re-run of") == 1

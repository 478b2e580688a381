"""``yanex rerun`` as a real subprocess, selecting through the shared filter options."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import yanex
from tests.stored import get_experiment
from yanex.db.engine import Database

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
    assert all(f"(re-run of {old})" in result.stdout and links[old][:8] in result.stdout for old in links)


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


def _show_field(experiment_id: str, label: str) -> str:
    shown = yanex_cli("show", experiment_id)
    assert shown.returncode == 0, shown.stderr
    lines = [line.strip() for line in shown.stdout.splitlines() if line.strip().startswith(label + " ")]
    assert len(lines) == 1, shown.stdout
    return lines[0].removeprefix(label).strip()


def test_show_gives_the_lineage_of_retries_and_reruns_and_the_batch_size(write_script, yanex_home):
    script = write_script("fails.py", "raise SystemExit(3)\n")
    [last] = yanex.run_multiple([yanex.ExperimentSpec(script_path=script, name="f")], retries=1)
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        (root,) = conn.execute(
            "SELECT retry_of FROM experiments WHERE id = ?", (last.experiment_id,)
        ).fetchone()
    assert _show_field(last.experiment_id, "lineage") == f"attempt 2 of {root[:8]}"
    batch = _show_field(last.experiment_id, "batch")
    assert batch.endswith("(1 experiment, one at a time)")
    [again] = yanex.rerun([last.experiment_id], parallel=2)
    assert (
        _show_field(again.experiment_id, "lineage")
        == f"re-run of {last.experiment_id[:8]} (attempt 3 of {root[:8]})"
    )
    assert _show_field(again.experiment_id, "batch").endswith("(1 experiment, 2 at a time)")
    [direct] = yanex.rerun([root])
    assert _show_field(direct.experiment_id, "lineage") == f"re-run of {root[:8]}"
    shown = yanex_cli("show", root).stdout
    assert not [line for line in shown.splitlines() if line.strip().startswith("lineage ")], shown


def test_rerun_param_overrides_the_originals_parameters(write_script, yanex_home):
    script = write_script("p.py", "import yanex\nprint(yanex.get_params())\n")
    spec = yanex.ExperimentSpec(script_path=script, config={"lr": 0.1, "model": {"depth": 2, "width": 8}})
    [first] = yanex.run_multiple([spec])
    result = yanex_cli("rerun", first.experiment_id, "--param", "lr=0.5", "--param", "model.depth=3")
    assert result.returncode == 0, result.stderr
    new_id = result.stdout.split()[0]
    assert get_experiment(Database(), new_id).config == {"lr": 0.5, "model": {"depth": 3, "width": 8}}
    [api] = yanex.rerun([first.experiment_id], config_overrides={"model": {"width": 16}})
    assert get_experiment(Database(), api.experiment_id).config == {
        "lr": 0.1,
        "model": {"depth": 2, "width": 16},
    }
    bad = yanex_cli("rerun", first.experiment_id, "--param", "novalue")
    assert bad.returncode != 0 and "Error: --param 'novalue' is not KEY=VALUE" in bad.stderr


def test_a_rerun_notes_once_when_the_code_changed(git_repo: Path, yanex_home):
    script = git_repo / "train.py"
    script.write_text("print('v1')\n")
    subprocess.run(["git", "add", "train.py"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "v1"], cwd=git_repo, check=True)
    [first] = yanex.run_multiple([yanex.ExperimentSpec(script_path=script)])
    same = yanex_cli("rerun", first.experiment_id)
    assert same.returncode == 0 and "Note:" not in same.stderr, same.stderr
    script.write_text("print('v2')\n")  # an uncommitted change
    changed = yanex_cli("rerun", first.experiment_id)
    assert changed.returncode == 0, changed.stderr
    notes = [line for line in changed.stderr.splitlines() if line.startswith("Note:")]
    assert notes == [
        "Note: re-running with other code than 1 of 1 original(s) ran (the uncommitted changes differ "
        "from the originals'); the re-runs record the current code"
    ]
    subprocess.run(["git", "commit", "-q", "-am", "v2"], cwd=git_repo, check=True)
    committed = yanex_cli("rerun", first.experiment_id)
    [note] = [line for line in committed.stderr.splitlines() if line.startswith("Note:")]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True, text=True).stdout
    assert f"commit {head[:8]} now, the originals ran " in note

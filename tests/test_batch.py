"""run_multiple and rerun through real experiment subprocesses, with the orchestrator in this process.

Faults (signals, killed processes, spawn, load) run the orchestrator as its own process: see
test_batch_faults.py.
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from pathlib import Path

import pytest

import yanex
from tests.stored import get_experiment, get_metrics
from yanex.errors import ConfigError, NestedRunError, NotFoundError
from yanex.runner import batch, git
from yanex.specs import GitInfo

# Sleeps shrink along the list, so with workers the later specs finish first.
ECHO = """
import json, sys, time, yanex
time.sleep(yanex.get_param("sleep", 0))
yanex.log_metrics({"score": yanex.get_param("x", 0) * 2})
print(json.dumps({"params": yanex.get_params(), "argv": sys.argv[1:]}))
"""


def rows(home: Path, where: str = "1", *args: object) -> list[sqlite3.Row]:
    with sqlite3.connect(home / "yanex.db") as conn:
        conn.row_factory = sqlite3.Row
        return conn.execute(f"SELECT * FROM experiments WHERE {where} ORDER BY created_at", args).fetchall()


def echo_specs(script: Path, count: int) -> list[yanex.ExperimentSpec]:
    return [
        yanex.ExperimentSpec(
            script_path=script,
            config={"x": i, "sleep": 0.3 * (count - i) / count},
            script_args=["--index", str(i)],
            name=f"echo-{i}",
            tags=["echo"],
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("parallel", [None, 0, 3])
def test_results_in_input_order_with_config_args_and_metrics(write_script, db, yanex_home, parallel):
    script = write_script("echo.py", ECHO)
    specs = echo_specs(script, 5)
    results = yanex.run_multiple(specs, parallel=parallel)
    assert [r.name for r in results] == [s.name for s in specs]
    assert all(r.status == "completed" and r.error_message is None for r in results), results
    assert len({r.experiment_id for r in results}) == 5
    for i, result in enumerate(results):
        view = get_experiment(db, result.experiment_id)
        assert view.status == "completed" and view.config == specs[i].config
        assert view.tags == ["echo"] and view.script_args == ["--index", str(i)]
        assert result.duration is not None and result.duration > 0
        assert result.duration == pytest.approx(view.duration)
        printed = json.loads((yanex_home / "experiments" / result.experiment_id / "stdout.log").read_text())
        assert printed == {"params": specs[i].config, "argv": ["--index", str(i)]}
        assert [p.value for p in get_metrics(db, result.experiment_id)] == [i * 2]
    batches = {row["batch_id"] for row in rows(yanex_home)}
    assert len(batches) == 1 and None not in batches


def test_every_row_is_queued_before_the_first_runs(write_script, yanex_home):
    # The first script looks at the database itself: its siblings must already be there, queued.
    script = write_script(
        "peek.py",
        f"""
        import os, sqlite3
        conn = sqlite3.connect({str(yanex_home / "yanex.db")!r})
        me = os.environ["YANEX_EXPERIMENT_ID"]
        print(sorted(r[0] for r in conn.execute("SELECT status FROM experiments WHERE id != ?", (me,))))
        """,
    )
    specs = [yanex.ExperimentSpec(script_path=script, name=f"p{i}") for i in range(4)]
    first = yanex.run_multiple(specs)[0]
    seen = (yanex_home / "experiments" / first.experiment_id / "stdout.log").read_text().strip()
    # Only the siblings: the script's own row becomes `running` once its supervisor has the pid,
    # which is after the script started (it may already be reading).
    assert seen == "['queued', 'queued', 'queued']"


def test_failures_are_isolated_with_useful_messages(write_script, yanex_home):
    specs = [
        yanex.ExperimentSpec(script_path=write_script("zero.py", "1 / 0\n"), name="zero"),
        yanex.ExperimentSpec(script_path=write_script("exit3.py", "import sys; sys.exit(3)\n"), name="exit3"),
        yanex.ExperimentSpec(
            script_path=write_script("kill.py", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n"),
            name="killed",
        ),
        yanex.ExperimentSpec(script_path=write_script("ok.py", "print('fine')\n"), name="ok"),
    ]
    results = yanex.run_multiple(specs, parallel=2)
    assert [(r.name, r.status, r.error_message) for r in results] == [
        ("zero", "failed", "ZeroDivisionError: division by zero"),
        ("exit3", "failed", "exit code 3"),
        ("killed", "failed", "killed by signal 9 (SIGKILL)"),
        ("ok", "completed", None),
    ]
    recorded = {row["name"]: (row["status"], row["exit_code"]) for row in rows(yanex_home)}
    assert recorded == {
        "zero": ("failed", 1),
        "exit3": ("failed", 3),
        "killed": ("failed", 137),
        "ok": ("completed", 0),
    }


def test_git_state_is_captured_once_per_batch(write_script, git_repo, monkeypatch, yanex_home):
    script = git_repo / "train.py"
    script.write_text("print('hi')\n")  # untracked: the batch is dirty
    calls: list[Path] = []
    real = git.capture_git

    def counting(path: Path) -> GitInfo:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(batch, "capture_git", counting)
    yanex.run_multiple(
        [yanex.ExperimentSpec(script_path=script, config={"i": i}) for i in range(3)], parallel=2
    )
    assert len(calls) == 1
    recorded = {(r["git_commit"], r["git_dirty"], r["git_patch_sha256"]) for r in rows(yanex_home)}
    assert len(recorded) == 1
    commit, dirty, patch = recorded.pop()
    assert len(commit) == 40 and dirty == 1 and patch is not None


@pytest.mark.parametrize(
    ("experiments", "kwargs", "error", "message"),
    [
        ([], {}, ValueError, "at least one ExperimentSpec"),
        (None, {"parallel": -1}, ValueError, "parallel must be None, 0"),
        (None, {"parallel": 1.5}, TypeError, "parallel must be None or an int"),
        (None, {"retries": -1}, ValueError, "retries must be a whole number"),
        (["train.py"], {}, TypeError, r"experiments\[0\] is a str"),
    ],
)
def test_bad_arguments_raise_before_anything_runs(
    write_script, yanex_home, experiments, kwargs, error, message
):
    if experiments is None:
        experiments = [yanex.ExperimentSpec(script_path=write_script("ok.py", "pass\n"))]
    with pytest.raises(error, match=message):
        yanex.run_multiple(experiments, **kwargs)
    assert not (yanex_home / "yanex.db").exists() or rows(yanex_home) == []


def test_missing_script_is_reported_before_anything_runs(write_script, yanex_home):
    specs = [
        yanex.ExperimentSpec(script_path=write_script("ok.py", "pass\n")),
        yanex.ExperimentSpec(script_path=Path("no_such_script.py"), name="ghost"),
    ]
    with pytest.raises(
        ConfigError, match=r"script not found for experiment 1 \(ghost\): .*no_such_script.py"
    ):
        yanex.run_multiple(specs, parallel=2)
    assert not (yanex_home / "yanex.db").exists() or rows(yanex_home) == []


def test_nested_call_is_refused_before_anything_runs(write_script, monkeypatch, yanex_home):
    monkeypatch.setenv("YANEX_EXPERIMENT_ID", "0123abcd")
    spec = yanex.ExperimentSpec(script_path=write_script("ok.py", "pass\n"))
    with pytest.raises(NestedRunError, match="inside running experiment 0123abcd"):
        yanex.run_multiple([spec], parallel=2)
    with pytest.raises(NestedRunError):
        yanex.rerun(["0123abcd"])
    assert not (yanex_home / "yanex.db").exists()


def test_a_script_that_starts_a_batch_fails_with_the_nested_error(write_script):
    inner = write_script("inner.py", "pass\n")
    outer = write_script(
        "outer.py",
        f"""
        import yanex
        yanex.run_multiple([yanex.ExperimentSpec(script_path={str(inner)!r})])
        """,
    )
    [result] = yanex.run_multiple([yanex.ExperimentSpec(script_path=outer)])
    assert result.status == "failed"
    assert (result.error_message or "").startswith("yanex.errors.NestedRunError: a batch cannot start inside")


FLAKY = """
import pathlib, sys, yanex
counter = pathlib.Path(yanex.get_param("counter"))
tries = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(tries))
if tries <= yanex.get_param("failures"):
    raise RuntimeError(f"flaky try {tries}")
"""


@pytest.mark.parametrize("parallel", [None, 2])
def test_retries_record_each_try_linked_to_the_previous(write_script, tmp_path, yanex_home, parallel):
    script = write_script("flaky.py", FLAKY)
    specs = [
        yanex.ExperimentSpec(
            script_path=script, config={"counter": str(tmp_path / f"c{i}"), "failures": i}, name=f"f{i}"
        )
        for i in range(4)  # f3 fails 3 times: one try too many for retries=2
    ]
    results = yanex.run_multiple(specs, parallel=parallel, retries=2)
    assert [r.status for r in results] == ["completed", "completed", "completed", "failed"]
    assert results[3].error_message == "RuntimeError: flaky try 3"
    for i, result in enumerate(results):
        chain = [result.experiment_id]
        while (previous := rows(yanex_home, "id = ?", chain[-1])[0]["retry_of"]) is not None:
            chain.append(previous)
        assert len(chain) == min(i, 2) + 1
        statuses = [rows(yanex_home, "id = ?", eid)[0]["status"] for eid in reversed(chain)]
        assert statuses == ["failed"] * (len(chain) - 1) + [result.status]
    assert len({row["batch_id"] for row in rows(yanex_home)}) == 1


def test_fail_fast_cancels_the_rest_of_the_batch(write_script, yanex_home, tmp_path):
    started = tmp_path / "slow-started"
    # "boom" fails once the first "slow" runs beside it (or after a minute), however slowly it starts.
    failing = f"""
        import pathlib, time
        deadline = time.monotonic() + 60
        while not pathlib.Path({str(started)!r}).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        raise SystemExit(2)
        """
    boom = yanex.ExperimentSpec(script_path=write_script("boom.py", failing), name="boom")
    slow = write_script(
        "slow.py", f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)\n"
    )
    specs = [boom, *(yanex.ExperimentSpec(script_path=slow, name=f"slow{i}") for i in range(3))]
    results = yanex.run_multiple(specs, parallel=2, fail_fast=True)
    assert [r.status for r in results] == ["failed", "cancelled", "cancelled", "cancelled"]
    assert all("fail_fast" in (r.error_message or "") for r in results[1:])
    assert [row["status"] for row in rows(yanex_home, "status != 'failed'")] == ["cancelled"] * 3
    ran = [row for row in rows(yanex_home, "name = 'slow0'")]
    assert ran[0]["started_at"] is not None  # it was running and was stopped, not left behind


def test_fail_fast_sequential_stops_at_the_first_failure(write_script, yanex_home):
    boom = yanex.ExperimentSpec(script_path=write_script("boom.py", "1 / 0\n"), name="boom")
    slow = yanex.ExperimentSpec(script_path=write_script("slow.py", "import time; time.sleep(60)\n"))
    results = yanex.run_multiple([boom, slow, slow, slow], fail_fast=True)
    assert [r.status for r in results] == ["failed", "cancelled", "cancelled", "cancelled"]
    # The next one may have been starting as the failure came in; the others never start.
    assert [row["started_at"] for row in rows(yanex_home, "name IS NULL")][1:] == [None, None]


def test_skip_completed_returns_the_earlier_experiment(write_script, yanex_home):
    script = write_script("echo.py", ECHO)
    first = yanex.run_multiple(echo_specs(script, 3)[:2])
    again = yanex.run_multiple(echo_specs(script, 3), skip_completed=True)
    assert [r.experiment_id for r in again[:2]] == [r.experiment_id for r in first]
    assert again[:2] == first
    assert again[2].status == "completed" and again[2].experiment_id not in {r.experiment_id for r in first}
    assert len(rows(yanex_home)) == 3
    # Without the flag, or with a different config, it runs again.
    assert yanex.run_multiple(echo_specs(script, 3)[:1])[0].experiment_id != first[0].experiment_id
    changed = echo_specs(script, 3)[0].model_copy(update={"config": {"x": 99}})
    assert yanex.run_multiple([changed], skip_completed=True)[0].experiment_id not in {
        r.experiment_id for r in first
    }


def test_rerun_runs_stored_specs_again_linked_to_the_originals(write_script, tmp_path, yanex_home):
    script = write_script("flaky.py", FLAKY)
    specs = [
        yanex.ExperimentSpec(
            script_path=script,
            config={"counter": str(tmp_path / f"c{i}"), "failures": i},
            name=f"f{i}",
            tags=["t"],
            script_args=["--a", str(i)],
        )
        for i in range(3)
    ]
    first = yanex.run_multiple(specs, parallel=2)
    failed = [r for r in first if r.status == "failed"]
    assert [r.name for r in failed] == ["f1", "f2"]
    again = yanex.rerun(failed, parallel=2)
    assert [(r.name, r.status) for r in again] == [("f1", "completed"), ("f2", "failed")]
    for original, new in zip(failed, again, strict=True):
        row = rows(yanex_home, "id = ?", new.experiment_id)[0]
        old = rows(yanex_home, "id = ?", original.experiment_id)[0]
        assert row["retry_of"] == original.experiment_id and row["batch_id"] != old["batch_id"]
        for column in ("script_path", "config", "script_args", "working_dir", "spec_sha256"):
            assert row[column] == old[column]
    by_id = yanex.rerun([again[1].experiment_id])
    assert by_id[0].status == "completed" and by_id[0].name == "f2"


def test_rerun_refuses_unknown_and_unfinished_experiments(write_script, db, yanex_home):
    with pytest.raises(NotFoundError):
        yanex.rerun(["00000000"])
    with pytest.raises(ValueError, match="at least one"):
        yanex.rerun([])
    [done] = yanex.run_multiple([yanex.ExperimentSpec(script_path=write_script("ok.py", "pass\n"))])
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        conn.execute("UPDATE experiments SET status = 'running', owner_pid = ?", (__import__("os").getpid(),))
    with pytest.raises(ConfigError, match=f"experiment {done.experiment_id} is still running"):
        yanex.rerun([done])


def test_results_of_a_sequential_batch_run_in_the_original_working_dir(write_script, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.txt").write_text("relative data")
    script = write_script("cat.py", "print(open('data.txt').read())\n")
    monkeypatch.chdir(work)
    [first] = yanex.run_multiple([yanex.ExperimentSpec(script_path=script)])
    monkeypatch.chdir(tmp_path)
    [again] = yanex.rerun([first])
    assert (first.status, again.status) == ("completed", "completed")


def test_verbose_output_reaches_a_text_only_stdout(write_script, monkeypatch):
    # A notebook's sys.stdout has no binary buffer; the streamed lines must still arrive.
    notebook = io.StringIO()
    monkeypatch.setattr(sys, "stdout", notebook)
    script = write_script("talk.py", "print('hello')\n")
    [result] = yanex.run_multiple([yanex.ExperimentSpec(script_path=script, name="nb")], verbose=True)
    assert result.status == "completed"
    assert notebook.getvalue() == "[nb] hello\n"


def test_a_batch_refuses_a_spec_whose_script_is_not_python(write_script, yanex_home):
    good = write_script("ok.py", "print('ok')\n")
    config_file = write_script("sweep.yaml", "lr: 0.1\n")
    specs = [
        yanex.ExperimentSpec(script_path=good),
        yanex.ExperimentSpec(script_path=config_file, name="cfg"),
    ]
    with pytest.raises(
        ConfigError, match=r"experiment 1 \(cfg\) is not a Python script: .*sweep.yaml is a YAML file"
    ):
        yanex.run_multiple(specs)
    assert not (yanex_home / "experiments").exists()

"""The in-script API, exercised by real scripts: tracked through the supervisor, and standalone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pydantic import JsonValue

from tests.stored import get_experiment, get_metrics
from yanex import config
from yanex.db.engine import Database
from yanex.runner.environment import this_process
from yanex.specs import EnvironmentInfo, ExperimentSpec, GitInfo, Status
from yanex.store.experiments import create_experiments
from yanex.supervisor.launch import ExperimentProcess, LaunchRequest, Outcome


def run_tracked(
    db: Database, script: Path, params: dict[str, JsonValue] | None = None
) -> tuple[Outcome, str]:
    """Run ``script`` as a tracked experiment; returns its outcome and captured stdout."""
    spec = ExperimentSpec(script_path=script, config=params or {})
    [experiment_id] = create_experiments(
        db, [spec], status=Status.CREATED, owner=this_process(), git=GitInfo(), environment=EnvironmentInfo()
    )
    request = LaunchRequest(experiment_id, script.resolve(), (), spec.config)
    process = ExperimentProcess(db, request, this_process())
    process.start()
    outcome = process.wait()
    stdout = (config.experiment_dir(experiment_id) / config.STDOUT_FILE).read_text()
    return outcome, stdout


PARAMS_SCRIPT = """
import json, yanex
params = yanex.get_params()
if params:
    params["model"]["layers"].append(999)  # a copy: must not change what get_param returns
print(json.dumps({
    "lr": yanex.get_param("lr"),
    "layers": yanex.get_param("model.layers"),
    "missing": yanex.get_param("model.dropout", 0.5),
    "through_leaf": yanex.get_param("lr.x", "default"),
    "none_default": yanex.get_param("nope"),
    "params": yanex.get_params(),
    "id": yanex.get_experiment_id(),
    "standalone": yanex.is_standalone(),
}))
"""


def test_tracked_script_reads_its_params(db: Database, write_script) -> None:
    params: dict[str, JsonValue] = {"lr": 0.01, "model": {"layers": [64, 32], "act": "relu"}}
    outcome, stdout = run_tracked(db, write_script("p.py", PARAMS_SCRIPT), params)
    assert outcome.status is Status.COMPLETED
    seen = json.loads(stdout)
    assert seen == {
        "lr": 0.01,
        "layers": [64, 32],
        "missing": 0.5,
        "through_leaf": "default",
        "none_default": None,
        "params": params,
        "id": outcome.experiment_id,
        "standalone": False,
    }


def test_standalone_script_gets_defaults_and_logs_nothing(write_script, yanex_home: Path) -> None:
    script = write_script("p.py", PARAMS_SCRIPT + LOG_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=script.parent
    )
    assert result.returncode == 0, result.stderr
    first_line = result.stdout.splitlines()[0]
    assert json.loads(first_line) == {
        "lr": None,
        "layers": None,
        "missing": 0.5,
        "through_leaf": "default",
        "none_default": None,
        "params": {},
        "id": None,
        "standalone": True,
    }
    # Standalone: steps still count and bad values still fail, exactly as when tracked.
    assert json.loads(result.stdout.splitlines()[-1]) == LOG_SCRIPT_REPORT
    assert not yanex_home.exists()
    assert sorted(p.name for p in script.parent.iterdir()) == ["p.py"]


LOG_SCRIPT = """
import json, math, yanex

class FakeScalar:  # what numpy and torch scalars look like to log_metrics
    def __init__(self, value): self.value = value
    def item(self): return self.value

class FakeArray:
    def __init__(self, values): self.values = values
    def item(self): raise ValueError("only size-1 arrays can be converted")
    def tolist(self): return list(self.values)

errors = []
def expect_type_error(*args, **kwargs):
    try:
        yanex.log_metrics(*args, **kwargs)
    except (TypeError, ValueError) as error:
        errors.append(str(error))
    else:
        errors.append("no error")

yanex.log_metrics({"loss": 1.0, "acc": 0.5})                      # step 0
yanex.log_metrics({"loss": 0.5})                                  # step 1
yanex.log_metrics({"loss": 0.25}, step=10)                        # step 10
yanex.log_metrics({"loss": FakeScalar(0.125), "hist": FakeArray([1, 2])})  # step 11
expect_type_error(["loss", 1.0])
expect_type_error({"loss": 1.0}, step="3")
expect_type_error({"loss": 1.0}, step=True)
expect_type_error({"loss": 1.0}, step=2**63)
expect_type_error({"loss": object()})
yanex.log_metrics({"phase": "eval", "flag": True, "cm": [[1, 0], [0, 1]], "nan": math.nan})  # 12
yanex.log_metrics({"empty": None})                                # step 13
print(json.dumps(errors))
"""

LOG_SCRIPT_REPORT = [
    "log_metrics expects a dict of name to value, got list",
    "log_metrics step must be an int, got str",
    "log_metrics step must be an int, got bool",
    "log_metrics step 9223372036854775808 is out of range; steps are 64-bit integers",
    "log_metrics got a value of type object, which is not a number, string, list or dict; convert it first",
]


def test_log_metrics_steps_values_and_errors(db: Database, write_script) -> None:
    outcome, stdout = run_tracked(db, write_script("m.py", LOG_SCRIPT))
    assert outcome.status is Status.COMPLETED
    assert json.loads(stdout) == LOG_SCRIPT_REPORT
    points = get_metrics(db, outcome.experiment_id)
    got = [(p.key, p.step, p.value, p.raw) for p in points]
    nan = [p for p in points if p.key == "nan"]
    assert got[:6] == [
        ("loss", 0, 1.0, 1.0),
        ("acc", 0, 0.5, 0.5),
        ("loss", 1, 0.5, 0.5),
        ("loss", 10, 0.25, 0.25),
        ("loss", 11, 0.125, 0.125),
        ("hist", 11, None, [1, 2]),
    ]
    assert got[6:9] == [
        ("phase", 12, None, "eval"),
        ("flag", 12, 1.0, True),
        ("cm", 12, None, [[1, 0], [0, 1]]),
    ]
    assert len(nan) == 1 and nan[0].step == 12 and nan[0].value is None and nan[0].raw == "NaN"
    assert got[10:] == [("empty", 13, None, None)]
    assert all(p.logged_at.tzinfo is not None for p in points)


def test_metrics_survive_crash_exit_and_fork(db: Database, write_script) -> None:
    script = write_script(
        "c.py",
        """
        import os, sys, yanex
        yanex.log_metrics({"parent": 1})
        pid = os.fork()
        if pid == 0:  # a forked child logs through its own descriptor
            yanex.log_metrics({"child": 2})
            os._exit(0)
        os.waitpid(pid, 0)
        yanex.log_metrics({"parent": 3})
        if yanex.get_param("crash"):
            raise RuntimeError("crashed after logging")
        sys.exit(4)
        """,
    )
    crashed, _ = run_tracked(db, script, {"crash": True})
    exited, _ = run_tracked(db, script, {"crash": False})
    assert (crashed.status, crashed.error_message) == (Status.FAILED, "RuntimeError: crashed after logging")
    assert (exited.status, exited.error_message, exited.exit_code) == (Status.FAILED, "exit code 4", 4)
    for outcome in (crashed, exited):
        values = sorted((p.key, p.value) for p in get_metrics(db, outcome.experiment_id))
        assert values == [("child", 2.0), ("parent", 1.0), ("parent", 3.0)]


def test_metrics_of_a_sigkilled_script_are_kept(db: Database, write_script) -> None:
    script = write_script(
        "k.py",
        """
        import os, signal, yanex
        for step in range(500):
            yanex.log_metrics({"loss": 1.0 / (step + 1), "step_seen": step})
        os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    outcome, _ = run_tracked(db, script)
    assert outcome.status is Status.FAILED
    assert (outcome.exit_code, outcome.error_message) == (137, "killed by signal 9 (SIGKILL)")
    points = get_metrics(db, outcome.experiment_id, "step_seen")
    assert [p.value for p in points] == [float(step) for step in range(500)]
    view = get_experiment(db, outcome.experiment_id)
    assert view.status is Status.FAILED and view.ended_at is not None


def test_experiment_env_is_read_once_at_import(tmp_path: Path) -> None:
    """A script that changes its environment later keeps logging to its own experiment."""
    directory = tmp_path / "exp"
    directory.mkdir()
    (directory / config.CONFIG_FILE).write_text('{"a": {"b": 2}}')
    code = (
        "import os, yanex; os.environ.pop('YANEX_EXPERIMENT_DIR');"
        "yanex.log_metrics({'x': 1}); print(yanex.get_param('a.b'))"
    )
    env = {**os.environ, config.EXPERIMENT_ID_ENV: "0123abcd", config.EXPERIMENT_DIR_ENV: str(directory)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    [line] = (directory / config.METRICS_FILE).read_text().splitlines()
    entry = json.loads(line)
    assert (entry["step"], entry["values"]) == (0, {"x": 1})
    assert isinstance(entry["t"], float)


def test_blank_experiment_id_means_standalone(tmp_path: Path) -> None:
    env = {**os.environ, config.EXPERIMENT_ID_ENV: "", config.EXPERIMENT_DIR_ENV: str(tmp_path)}
    code = "import yanex; yanex.log_metrics({'x': 1}); print(yanex.is_standalone(), yanex.get_params())"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True {}"
    assert list(tmp_path.iterdir()) == []


STEP_OVERFLOW = """
import json, yanex
yanex.log_metrics({"a": 1}, step=2**63 - 1)
try:
    yanex.log_metrics({"a": 2})
except ValueError as error:
    print(json.dumps(str(error)))
yanex.log_metrics({"a": 3}, step=0)
"""


def test_counting_a_step_past_the_largest_is_refused_at_the_call(db: Database, write_script) -> None:
    """Not dropped silently at ingest: the script learns at the call that the step cannot be stored."""
    outcome, stdout = run_tracked(db, write_script("overflow.py", STEP_OVERFLOW))
    assert outcome.status is Status.COMPLETED
    assert json.loads(stdout) == (
        "log_metrics step 9223372036854775808 is out of range: counting on from step "
        "9223372036854775807 passes 2**63-1, the largest step; pass step= explicitly"
    )
    assert [(p.step, p.value) for p in get_metrics(db, outcome.experiment_id)] == [(2**63 - 1, 1.0), (0, 3.0)]


def test_a_tracked_script_reads_its_params_without_importing_json(db: Database, write_script) -> None:
    """json pulls in re: several ms of every tracked script's start-up (issue 9's 1.3x budget)."""
    script = write_script(
        "lean.py", "import sys, yanex\nprint(yanex.get_param('lr'), 'json' in sys.modules)\n"
    )
    outcome, stdout = run_tracked(db, script, {"lr": 0.5})
    assert outcome.status is Status.COMPLETED
    assert stdout.split() == ["0.5", "False"]


def test_params_written_by_an_older_supervisor_are_read_from_config_json(tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    directory.mkdir()
    (directory / config.CONFIG_FILE).write_text('{"lr": 0.25}')
    env = {**os.environ, config.EXPERIMENT_ID_ENV: "0123abcd", config.EXPERIMENT_DIR_ENV: str(directory)}
    for marshalled in (None, b"not marshal data"):  # none yet, or unreadable: json is the record
        if marshalled is not None:
            (directory / config.PARAMS_FILE).write_bytes(marshalled)
        result = subprocess.run(
            [sys.executable, "-c", "import yanex; print(yanex.get_param('lr'))"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "0.25"

"""``yanex run`` through Typer's test runner and as the real command in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import in_terminal, wait_until, yanex_cli
from tests.stored import get_experiment, get_metrics
from yanex import config
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.specs import ExperimentView, Status
from yanex.supervisor.launch import _PIPE_GRACE

runner = CliRunner()


def only_experiment(db: Database) -> ExperimentView:
    [experiment_id] = [p.name for p in config.experiments_root().iterdir()]
    return get_experiment(db, experiment_id)


ECHO_SCRIPT = """
import json, sys, yanex
print(json.dumps({"params": yanex.get_params(), "argv": sys.argv[1:]}))
print("to stderr", file=sys.stderr)
yanex.log_metrics({"score": yanex.get_param("score", 0)})
"""


def test_run_records_a_completed_experiment(db: Database, write_script, tmp_path: Path) -> None:
    script = write_script("train.py", ECHO_SCRIPT)
    result = runner.invoke(
        app,
        ["run", str(script), "-p", "score=0.75", "--name", "first", "-t", "a", "--tag", "b", "-d", "why"],
    )
    assert result.exit_code == 0, result.output
    assert '{"params": {"score": 0.75}, "argv": []}' in result.stdout
    assert "to stderr" in result.stderr
    view = only_experiment(db)
    assert view.status is Status.COMPLETED
    assert (view.name, view.tags, view.description) == ("first", ["a", "b"], "why")
    assert (view.exit_code, view.error_message, view.config) == (0, None, {"score": 0.75})
    assert view.script_path == str(script.resolve())
    assert view.started_at is not None and view.ended_at is not None and view.duration is not None
    assert view.environment.python_version and view.environment.yanex_version
    assert f"yanex: experiment {view.id[:8]} completed" in result.stderr
    assert [p.value for p in get_metrics(db, view.id)] == [0.75]
    folder = config.experiment_dir(view.id)
    assert "to stderr" in (folder / config.STDERR_FILE).read_text()
    assert '"score": 0.75' in (folder / config.STDOUT_FILE).read_text()


def test_failure_records_the_exception_line(db: Database, write_script) -> None:
    script = write_script(
        "fail.py",
        """
        def divide():
            return 1 / 0
        divide()
        """,
    )
    result = runner.invoke(app, ["run", str(script)])
    assert result.exit_code == 1
    view = only_experiment(db)
    assert (view.status, view.exit_code) == (Status.FAILED, 1)
    assert view.error_message == "ZeroDivisionError: division by zero"
    assert "Traceback" in result.stderr  # the script's own traceback, echoed
    assert "yanex: experiment" in result.stderr and "ZeroDivisionError: division by zero" in result.stderr


def test_syntax_error_records_the_syntax_error_line(db: Database, write_script) -> None:
    # Python prints a compile error with no "Traceback" header; the line is still the message.
    script = write_script("broken.py", "x = 1\ndef (\n")
    result = runner.invoke(app, ["run", str(script)])
    assert result.exit_code == 1
    view = only_experiment(db)
    assert (view.status, view.exit_code) == (Status.FAILED, 1)
    assert view.error_message == "SyntaxError: invalid syntax"
    assert "yanex: experiment" in result.stderr and "failed: SyntaxError: invalid syntax" in result.stderr

    script.write_text("if True:\nx = 1\n")
    assert runner.invoke(app, ["run", str(script)]).exit_code == 1
    messages = {get_experiment(db, p.name).error_message for p in config.experiments_root().iterdir()}
    assert "IndentationError: expected an indented block after 'if' statement on line 1" in messages


def test_sys_exit_code_is_recorded_and_returned(db: Database, write_script) -> None:
    script = write_script("exit3.py", "import sys\nsys.exit(3)\n")
    result = runner.invoke(app, ["run", str(script)])
    assert result.exit_code == 3
    view = only_experiment(db)
    assert (view.status, view.exit_code, view.error_message) == (Status.FAILED, 3, "exit code 3")


def test_params_override_config_file(db: Database, write_script, tmp_path: Path) -> None:
    script = write_script("train.py", ECHO_SCRIPT)
    config_file = tmp_path / "sweep.yaml"
    config_file.write_text(
        "lr: 0.1\nepochs: 10\nmodel:\n  layers: [64, 32]\n  act: relu\n  opt: {name: sgd, momentum: 0.9}\n"
    )
    result = runner.invoke(
        app,
        [
            "run",
            str(script),
            "--config",
            str(config_file),
            "--param",
            "lr=0.01",
            "-p",
            "model.act=gelu",
            "-p",
            "model.opt.name=adam",
            "-p",
            "flags=[1, 2.5, true, yes, 12:30:00]",
            "-p",
            "on=true",
            "-p",
            "nothing=null",
            "-p",
            "day=2024-01-31",
            "-p",
            "label=hello world",
            "-p",
            "quoted='007'",
        ],
    )
    assert result.exit_code == 0, result.output
    assert only_experiment(db).config == {
        "lr": 0.01,
        "epochs": 10,
        "model": {"layers": [64, 32], "act": "gelu", "opt": {"name": "adam", "momentum": 0.9}},
        "flags": [1, 2.5, True, "yes", "12:30:00"],
        "on": True,
        "nothing": None,
        "day": "2024-01-31",
        "label": "hello world",
        "quoted": "007",
    }


def test_json_config_file(db: Database, write_script, tmp_path: Path) -> None:
    script = write_script("train.py", ECHO_SCRIPT)
    config_file = tmp_path / "params.json"
    config_file.write_text('{"lr": 0.5, "model": {"depth": 3}}')
    result = runner.invoke(app, ["run", str(script), "-c", str(config_file), "-p", "model.width=8"])
    assert result.exit_code == 0, result.output
    assert only_experiment(db).config == {"lr": 0.5, "model": {"depth": 3, "width": 8}}


def test_script_args_reach_sys_argv(db: Database, write_script) -> None:
    script = write_script("train.py", ECHO_SCRIPT)
    args = ["--epochs", "5", "--param", "not-ours", "a b"]
    result = runner.invoke(app, ["run", str(script), "-p", "x=1", "--", *args])
    assert result.exit_code == 0, result.output
    assert '"argv": ["--epochs", "5", "--param", "not-ours", "a b"]' in result.stdout
    view = only_experiment(db)
    assert (view.script_args, view.config) == (args, {"x": 1})


BAD_INPUT = [
    (["missing.py"], "Error: script missing.py does not exist"),
    (["{script}", "-p", "lr"], "Error: --param 'lr' is not KEY=VALUE"),
    (["{script}", "-p", "=3"], "Error: --param '=3' is not KEY=VALUE"),
    (["{script}", "-p", "a..b=3"], "Error: --param 'a..b=3' is not KEY=VALUE"),
    (["{script}", "-p", "lr=[1,"], "Error: --param 'lr=[1,': the value is not valid YAML"),
    (["{script}", "-p", "a=1", "-p", "a.b=2"], "Error: --param 'a.b=2': a is already set to a value"),
    (["{script}", "-p", "a.b=1", "-p", "a=2"], "Error: --param 'a=2': a already has keys below it"),
    (["{script}", "-p", "lr=.nan"], "Error: config key 'lr' is nan, which JSON cannot store"),
    (["{script}", "-t", " "], "Error: tags must be non-empty strings"),
    (["{script}", "-c", "{dir}/absent.yaml"], "does not exist"),
    (["{script}", "-c", "{dir}/list.yaml"], "holds a list, not a mapping"),
    (["{script}", "-c", "{dir}/scalar.json"], "holds a int, not a mapping"),
    (["{script}", "-c", "{dir}/broken.yaml"], "is not valid YAML"),
    (["{script}", "-c", "{dir}/broken.json"], "is not valid JSON"),
    (["{script}", "-c", "{dir}/intkeys.yaml"], "Error: config key 1 at top level is not a string"),
    (["{script}", "-c", "{dir}"], "Error: cannot read config file"),
    (["{dir}"], "is not a file"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_one_clear_error(args: list[str], message: str, write_script, tmp_path: Path) -> None:
    script = write_script("train.py", ECHO_SCRIPT)
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "scalar.json").write_text("3")
    (tmp_path / "broken.yaml").write_text("a: [1,\n")
    (tmp_path / "broken.json").write_text("{'a': 1}")
    (tmp_path / "intkeys.yaml").write_text("1: one\n")
    argv = [arg.format(script=script, dir=tmp_path) for arg in args]
    result = runner.invoke(app, ["run", *argv])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Error: ") and lines[1].startswith("Hint: ")
    assert not config.experiments_root().exists()  # nothing ran, nothing was recorded


def test_help_documents_every_option() -> None:
    result = runner.invoke(app, ["run", "--help"])
    assert result.exit_code == 0
    for option in ("--param", "--config", "--name", "--tag", "--description", "SCRIPT_ARGS"):
        assert option in result.stdout


# ---- the real command, in a subprocess -------------------------------------------------------------


def test_real_command_success_and_bad_input(db: Database, write_script) -> None:
    script = write_script("train.py", ECHO_SCRIPT)
    done = yanex_cli("run", str(script), "-p", "score=2", "--", "x")
    assert done.returncode == 0, done.stderr
    assert '{"params": {"score": 2}, "argv": ["x"]}' in done.stdout
    assert only_experiment(db).status is Status.COMPLETED
    bad = yanex_cli("run", str(script), "-p", "oops")
    assert bad.returncode == 2
    assert bad.stderr.startswith("Error: --param 'oops' is not KEY=VALUE\nHint: ")
    assert "Traceback" not in bad.stderr


def test_sigkilled_script_is_failed_with_its_metrics(db: Database, write_script) -> None:
    script = write_script(
        "killed.py",
        """
        import os, signal, yanex
        for step in range(1000):
            yanex.log_metrics({"step_seen": step, "loss": 1 / (step + 1)})
        os.kill(os.getpid(), signal.SIGKILL)
        """,
    )
    result = yanex_cli("run", str(script))
    assert result.returncode == 137
    view = only_experiment(db)
    assert (view.status, view.exit_code) == (Status.FAILED, 137)
    assert view.error_message == "killed by signal 9 (SIGKILL)"
    assert "killed by signal 9 (SIGKILL)" in result.stderr
    steps = [p.value for p in get_metrics(db, view.id, "step_seen")]
    assert steps == [float(step) for step in range(1000)]


# Counts the SIGINTs it gets until `yanex run` (its parent) has taken its own: then any SIGINT
# yanex passes on is already queued here. The check is tests.conftest.signal_taken's.
INTERRUPTIBLE = """
import os, signal, sys, time, yanex

def parent_took_sigint():
    with open(f"/proc/{os.getppid()}/status") as handle:
        fields = dict(line.split(":", 1) for line in handle if ":" in line)
    with open(f"/proc/{os.getppid()}/stat") as handle:
        state = handle.read().rsplit(")", 1)[1].split()[0]
    pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
    return not pending & (1 << (signal.SIGINT - 1)) and state == "S"

received = []
signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
yanex.log_metrics({"started": 1})
open(sys.argv[1], "w").close()
deadline = time.monotonic() + 60
while not received and time.monotonic() < deadline:
    time.sleep(0.01)
while not parent_took_sigint() and time.monotonic() < deadline:
    time.sleep(0.01)
time.sleep(0.01)  # a system call: a SIGINT already queued for this process runs its handler
print("SIGINTs received:", len(received), flush=True)
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.kill(os.getpid(), signal.SIGINT)
"""


def _check_cancelled(db: Database, stdout: str, returncode: int) -> None:
    assert returncode == 130
    assert "SIGINTs received: 1" in stdout
    view = only_experiment(db)
    assert (view.status, view.exit_code) == (Status.CANCELLED, 130)
    assert view.error_message == "interrupted by the user"
    assert [p.key for p in get_metrics(db, view.id)] == ["started"]


def test_sigint_to_yanex_run_is_forwarded_once(db: Database, write_script, tmp_path: Path) -> None:
    """``kill -INT <yanex pid>`` without a terminal: only yanex gets it, so it must forward it."""
    script = write_script("wait.py", INTERRUPTIBLE)
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no controlling terminal
    )
    wait_until(ready.exists, "the script to start")
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    _check_cancelled(db, stdout, proc.returncode)


def test_ctrl_c_in_a_terminal_reaches_the_script_once(db: Database, write_script, tmp_path: Path) -> None:
    """A real Ctrl-C typed into a pseudo-terminal signals the whole foreground group."""
    script = write_script("wait.py", INTERRUPTIBLE)
    ready = tmp_path / "ready"
    with in_terminal(sys.executable, "-m", "yanex", "run", str(script), "--", str(ready)) as (
        proc,
        controller,
    ):
        wait_until(ready.exists, "the script to start")
        os.write(controller, b"\x03")
        stdout, _ = proc.communicate(timeout=60)
    _check_cancelled(db, stdout, proc.returncode)


def test_sigterm_to_yanex_run_cancels_the_script(db: Database, write_script, tmp_path: Path) -> None:
    script = write_script(
        "sleep.py",
        """
        import sys, time
        open(sys.argv[1], "w").close()
        time.sleep(120)
        """,
    )
    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    wait_until(ready.exists, "the script to start")
    proc.terminate()
    proc.communicate(timeout=60)
    assert proc.returncode == 143
    view = only_experiment(db)
    assert (view.status, view.exit_code, view.error_message) == (
        Status.CANCELLED,
        143,
        "terminated: yanex run received SIGTERM",
    )


def test_metrics_reach_the_database_while_the_script_runs(db: Database, write_script, tmp_path: Path) -> None:
    script = write_script(
        "live.py",
        """
        import os, sys, time, yanex
        for step in range(3):
            yanex.log_metrics({"loss": 1.0 / (step + 1)})
        deadline = time.monotonic() + 120
        while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
            time.sleep(0.02)
        """,
    )
    stop = tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "--", str(stop)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: config.experiments_root().exists() and any(config.experiments_root().iterdir()), "a row"
        )
        experiment_id = next(config.experiments_root().iterdir()).name
        wait_until(lambda: len(get_metrics(db, experiment_id)) == 3, "live metrics")
        assert get_experiment(db, experiment_id).status is Status.RUNNING
    finally:
        stop.touch()
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert get_experiment(db, experiment_id).status is Status.COMPLETED


def test_yanex_run_nests_inside_an_experiment(db: Database, write_script) -> None:
    inner = write_script(
        "inner.py",
        """
        import yanex
        yanex.log_metrics({"inner": yanex.get_param("x")})
        print("inner id", yanex.get_experiment_id())
        """,
    )
    outer = write_script(
        "outer.py",
        f"""
        import subprocess, sys, yanex
        yanex.log_metrics({{"outer": yanex.get_param("x")}})
        cmd = [sys.executable, "-m", "yanex", "run", {str(inner)!r}, "-p", "x=2", "--name", "inner"]
        sys.exit(subprocess.run(cmd).returncode)
        """,
    )
    result = yanex_cli("run", str(outer), "-p", "x=1", "--name", "outer")
    assert result.returncode == 0, result.stderr
    views = {
        str(v.name): v for v in (get_experiment(db, p.name) for p in config.experiments_root().iterdir())
    }
    assert sorted(views) == ["inner", "outer"]
    assert all(v.status is Status.COMPLETED for v in views.values())
    assert (views["outer"].config, views["inner"].config) == ({"x": 1}, {"x": 2})
    assert f"inner id {views['inner'].id}" in result.stdout
    assert [(p.key, p.value) for p in get_metrics(db, views["outer"].id)] == [("outer", 1.0)]
    assert [(p.key, p.value) for p in get_metrics(db, views["inner"].id)] == [("inner", 2.0)]


def test_duration_ends_when_the_script_exits(db: Database, write_script, tmp_path: Path) -> None:
    """Output still held open after the script exited delays recording, not the duration."""
    pidfile = tmp_path / "lingering.pid"
    address = f"\0yanex-test-{os.getpid()}-{tmp_path.name}"  # an abstract socket: no path to clean up
    # The script's background child is killed when the script ends; its stdout and stderr, handed
    # to this test (no descendant of the script, so nothing yanex may kill), stay open after it.
    script = write_script(
        "bg.py",
        f"""
        import pathlib, socket, subprocess, sys
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        pathlib.Path({str(pidfile)!r}).write_text(str(child.pid))
        with socket.socket(socket.AF_UNIX) as holder:
            holder.connect({address!r})
            socket.send_fds(holder, [b"x"], [1, 2])
        """,
    )
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(address)
        listener.listen(1)
        listener.settimeout(10)
        try:
            result = yanex_cli("run", str(script))
            returned = datetime.now(UTC)
        finally:
            if pidfile.exists():  # yanex kills it when the script ends; this guards a failure
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pidfile.read_text()), signal.SIGKILL)
        assert result.returncode == 0, result.stderr
        connection, _ = listener.accept()  # queued before the script exited
        with connection:
            _, held, _, _ = socket.recv_fds(connection, 1, 2)
        for fd in held:
            os.close(fd)
    assert len(held) == 2  # the output was held open past the script's end
    view = only_experiment(db)
    assert view.status is Status.COMPLETED
    assert view.started_at is not None and view.ended_at is not None and view.duration is not None
    # yanex waits up to _PIPE_GRACE for output still held open, then records: the end it records
    # is the script's exit, before that wait (however slow the machine), never the wait's end.
    assert view.ended_at <= returned - timedelta(seconds=_PIPE_GRACE)
    assert view.duration == pytest.approx((view.ended_at - view.started_at).total_seconds())


def test_an_unknown_option_hints_that_script_options_go_after_the_separator(write_script) -> None:
    script = write_script("train.py", "print('ran')\n")
    result = yanex_cli("run", str(script), "-p", "epochs=1", "--verbose")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert "Error: No such option: --verbose" in lines
    assert f"Hint: options for the script go after --: yanex run {script} -p epochs=1 -- --verbose" in lines
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "body", "kind"),
    [
        ("config.yaml", "lr: 0.1\n", "a YAML file"),
        ("job", "#!/bin/bash\necho hi\n", "a script for '/bin/bash', not Python"),
        ("notes.md", "# title\n", "a .md file, not a .py file"),
    ],
)
def test_run_refuses_a_file_that_is_not_a_python_script(
    db: Database, write_script, name: str, body: str, kind: str
) -> None:
    path = write_script(name, body)
    result = runner.invoke(app, ["run", str(path)])
    assert result.exit_code != 0
    assert f"Error: {path} is not a Python script: it is {kind}" in result.output
    assert "Hint: pass a .py file, or a script whose first line is a python shebang" in result.output
    root = config.experiments_root()
    assert not root.exists() or not list(root.iterdir())  # nothing was created


def test_run_accepts_a_script_with_a_python_shebang(db: Database, write_script) -> None:
    tool = write_script("tool", "#!/usr/bin/env python3\nprint('tool ran')\n")
    result = runner.invoke(app, ["run", str(tool)])
    assert result.exit_code == 0, result.output
    assert only_experiment(db).status is Status.COMPLETED


def test_a_one_off_run_without_a_name_gets_one_like_a_sweeps(db: Database, write_script) -> None:
    """Named by the params set on the command line (as a sweep names its points), else by a random
    readable pair; ``run_multiple`` keeps what its spec says (no name)."""
    import re

    from yanex.runner.batch import run_multiple
    from yanex.specs import ExperimentSpec

    script = write_script("train.py", ECHO_SCRIPT)
    assert runner.invoke(app, ["run", str(script), "-p", "score=1.0", "-p", "model.depth=3"]).exit_code == 0
    assert runner.invoke(app, ["run", str(script)]).exit_code == 0
    assert runner.invoke(app, ["run", str(script), "-p", "score=2", "--name", "mine"]).exit_code == 0
    [api_result] = run_multiple([ExperimentSpec(script_path=script, config={"score": 0.5})])
    listed = runner.invoke(app, ["list", "--format", "json"])
    names = [record["name"] for record in json.loads(listed.stdout)]
    assert names[0] is None and api_result.name is None
    assert names[1] == "mine"
    assert re.fullmatch(r"train-[a-z]+-[a-z]+", names[2]), names[2]
    assert names[3] == "train-score1.0-model.depth3"

"""``yanex.start``: an experiment tracked inside a plain interpreter, driven as a real subprocess
(a script without ``yanex run``, or ``python -i`` fed through stdin), with real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import wait_until, yanex_cli
from yanex.db.engine import Database
from yanex.specs import Status
from yanex.store.filters import ExperimentFilter
from yanex.store.history import points
from yanex.store.reading import reading
from yanex.store.records import find_records
from yanex.store.tables import ExperimentRecord


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _only_experiment(settle: bool = True) -> ExperimentRecord:
    with reading(Database(), settle=settle) as conn:
        [record] = find_records(conn, ExperimentFilter())
        return record


def _points(experiment_id: str, key: str) -> list[float]:
    with reading(Database(), settle=False) as conn:
        return [point.value for point in points(conn, [experiment_id], [key])]


def test_a_session_records_every_point_and_completes(tmp_path: Path) -> None:
    result = _python(
        """
        import yanex
        with yanex.start(config={"lr": 0.5, "model": {"layers": 2}}, name="nb", tags=["t1"],
                         description="from a cell") as run:
            assert yanex.get_param("model.layers") == 2 and yanex.get_experiment_id() == run.id
            yanex.set_total(1000)
            yanex.set_goal("score", "min")
            for step in range(1000):
                yanex.log_metrics({"score": float(step)})
            yanex.save_artifact({"a": 1}, "result.json")
        assert yanex.is_standalone() and yanex.get_param("lr", 7) == 7
        print(run.id)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    record = _only_experiment()
    assert record.id == result.stdout.strip()
    assert (record.status, record.name, record.tags, record.description) == (
        Status.COMPLETED,
        "nb",
        ["t1"],
        "from a cell",
    )
    assert record.config == {"lr": 0.5, "model": {"layers": 2}}
    assert record.script_path == "<interactive>" and record.total_steps == 1000
    assert _points(record.id, "score") == [float(step) for step in range(1000)]
    listed = yanex_cli("artifacts", record.id)
    assert "result.json" in listed.stdout, listed


def test_a_session_of_a_script_names_the_script_and_its_git_state(tmp_path: Path, git_repo: Path) -> None:
    script = git_repo / "explore.py"
    script.write_text("import yanex\nrun = yanex.start()\nyanex.log_metrics({'x': 1.0})\nrun.finish()\n")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    record = _only_experiment()
    assert record.script_path == str(script.resolve())
    assert record.git.commit is not None and record.status is Status.COMPLETED
    assert record.name is not None and record.name.startswith("explore-")


def test_kill_9_of_the_interpreter_settles_the_row_failed_and_keeps_every_point(tmp_path: Path) -> None:
    """The interpreter is killed between two log_metrics calls: the next `yanex list` finds the
    owner gone, ingests the rest of the journal and records failed with a clear reason."""
    session = subprocess.Popen(
        [sys.executable, "-i", "-q"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert session.stdin is not None and session.stdout is not None
    session.stdin.write(
        "import yanex\nrun = yanex.start(name='doomed')\n"
        "for step in range(5000): yanex.log_metrics({'loss': step / 7})\n\n"
        "print('logged', flush=True)\n"
    )
    session.stdin.flush()
    assert session.stdout.readline().strip() == "logged"
    session.send_signal(signal.SIGKILL)
    session.wait()
    listed = yanex_cli("list")
    assert listed.returncode == 0, listed.stderr
    record = _only_experiment(settle=False)
    assert record.status is Status.FAILED
    assert record.error_message is not None and "yanex.start" in record.error_message
    assert "died" in record.error_message
    assert _points(record.id, "loss") == [step / 7 for step in range(5000)]


def test_an_exception_records_failed_with_its_line_and_is_re_raised(tmp_path: Path) -> None:
    result = _python(
        """
        import yanex
        try:
            with yanex.start(name="boom"):
                yanex.log_metrics({"x": 1.0})
                raise ValueError("bad batch 3")
        except ValueError as error:
            print("re-raised", error)
        """,
        tmp_path,
    )
    assert result.returncode == 0 and "re-raised bad batch 3" in result.stdout, result.stderr
    record = _only_experiment()
    assert (record.status, record.error_message) == (Status.FAILED, "ValueError: bad batch 3")
    assert _points(record.id, "x") == [1.0]


def test_keyboard_interrupt_records_cancelled(tmp_path: Path) -> None:
    result = _python(
        """
        import os, signal, yanex
        try:
            with yanex.start():
                os.kill(os.getpid(), signal.SIGINT)
        except KeyboardInterrupt:
            print("interrupted")
        """,
        tmp_path,
    )
    assert "interrupted" in result.stdout, result.stderr
    record = _only_experiment()
    assert (record.status, record.error_message) == (Status.CANCELLED, "interrupted by the user")


def test_an_uncaught_exception_of_a_script_outside_with_records_failed(tmp_path: Path) -> None:
    result = _python("import yanex\nrun = yanex.start()\nraise RuntimeError('late')\n", tmp_path)
    assert result.returncode == 1 and "RuntimeError: late" in result.stderr
    record = _only_experiment()
    assert (record.status, record.error_message) == (Status.FAILED, "RuntimeError: late")


def test_fail_and_cancel_of_the_run_object(tmp_path: Path) -> None:
    result = _python(
        """
        import yanex
        first = yanex.start(name="a")
        first.fail("diverged")
        second = yanex.start(name="b")
        second.cancel("not needed")
        second.cancel("twice is harmless")
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    with reading(Database()) as conn:
        found = {r.name: (r.status, r.error_message) for r in find_records(conn, ExperimentFilter())}
    assert found == {"a": (Status.FAILED, "diverged"), "b": (Status.CANCELLED, "not needed")}


def test_nesting_is_refused_in_one_line(tmp_path: Path) -> None:
    result = _python(
        """
        import yanex
        from yanex.errors import UsageError
        with yanex.start(name="outer") as run:
            try:
                yanex.start(name="inner")
            except UsageError as error:
                print("refused:", error)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("refused:")]
    assert "already tracked in this process" in line and "finish" in line
    with reading(Database()) as conn:
        assert [r.name for r in find_records(conn, ExperimentFilter())] == ["outer"]


def test_start_inside_yanex_run_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "inner.py"
    script.write_text("import yanex\nwith yanex.start():\n    pass\n")
    result = yanex_cli("run", str(script), "--name", "outer", cwd=tmp_path)
    assert result.returncode == 1
    assert "yanex.errors.UsageError: this script already runs as experiment" in result.stderr
    assert "yanex run" in result.stderr
    record = _only_experiment()
    assert (record.name, record.status) == ("outer", Status.FAILED)


def test_a_forked_child_does_not_end_the_session(tmp_path: Path) -> None:
    """A worker forked inside a session (a DataLoader's) logs into the journal and exits; only
    the interpreter that started the session records its end."""
    result = _python(
        """
        import os, yanex
        with yanex.start() as run:
            pid = os.fork()
            if pid == 0:
                yanex.log_metrics({"child": 1.0}, step=0)
                raise SystemExit(0)
            os.waitpid(pid, 0)
            yanex.log_metrics({"parent": 2.0}, step=1)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    record = _only_experiment()
    assert record.status is Status.COMPLETED
    assert _points(record.id, "child") == [1.0] and _points(record.id, "parent") == [2.0]


def test_points_are_ingested_while_the_session_lives(tmp_path: Path) -> None:
    """The daemon thread ingests as a supervisor does: `yanex show` sees points before finish."""
    session = subprocess.Popen(
        [sys.executable, "-i", "-q"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert session.stdin is not None
    session.stdin.write("import yanex\nrun = yanex.start()\nyanex.log_metrics({'x': 3.0})\n")
    session.stdin.flush()
    try:
        wait_until(lambda: Database().exists() and _one_point(), "the point ingested while running")
        record = _only_experiment()
        assert record.status is Status.RUNNING
    finally:
        session.stdin.write("run.finish()\n")
        session.stdin.close()
        session.wait(60)
    assert _only_experiment().status is Status.COMPLETED


def _one_point() -> bool:
    with reading(Database(), settle=False) as conn:
        records = find_records(conn, ExperimentFilter())
        return bool(records) and any(points(conn, [records[0].id], ["x"]))


@pytest.mark.parametrize("name", ["start", "create_experiment"])
def test_start_is_loaded_lazily(name: str) -> None:
    """`yanex.start` exists without `import yanex` loading the store (tests/test_startup.py)."""
    code = f"import sys, yanex; assert 'yanex.runner.session' not in sys.modules; yanex.{name}; print('ok')"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr


def test_a_jupyter_kernel_killed_hard_keeps_every_point_and_names_its_notebook(tmp_path: Path) -> None:
    """A real ipykernel runs the cells; `shutdown_kernel(now=True)` kills it (SIGKILL) mid-run."""
    from jupyter_client.manager import KernelManager

    notebook = tmp_path / "analysis.ipynb"
    notebook.write_text("{}")
    manager = KernelManager(kernel_name="python3")
    spec = manager.kernel_spec
    assert spec is not None
    spec.argv[0] = sys.executable  # this venv's interpreter, with yanex installed
    manager.start_kernel(cwd=str(tmp_path), env={**os.environ, "JPY_SESSION_NAME": str(notebook)})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        reply = client.execute_interactive(
            "import yanex\nrun = yanex.start(name='cell')\n"
            "for step in range(300):\n    yanex.log_metrics({'acc': step / 300})\n",
            timeout=60,
        )
        assert reply["content"]["status"] == "ok", reply["content"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert yanex_cli("list").returncode == 0
    record = _only_experiment(settle=False)
    assert record.status is Status.FAILED and "yanex.start" in (record.error_message or "")
    assert record.script_path == str(notebook.resolve())
    assert _points(record.id, "acc") == [step / 300 for step in range(300)]

"""Every test gets its own YANEX_HOME (and so its own SQLite file) in a temp dir."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.ui_support import BROWSER_ARGS, LONG, TRAIN, Server, run, start, stop
from yanex.db.engine import Database

REPO_ROOT = Path(__file__).resolve().parent.parent

# A shell's background job (`make test &` without job control) starts with SIGINT ignored, which
# every process the tests start would inherit: a Ctrl-C test's orchestrator or `yanex run` would
# then never see its Ctrl-C. A handler is not inherited across exec; the default comes back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def yanex_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "yanex-home"
    monkeypatch.setenv("YANEX_HOME", str(home))
    for name in (
        "YANEX_DATABASE_URL",
        "YANEX_EXPERIMENT_ID",
        "YANEX_EXPERIMENT_DIR",
        "YANEX_GIT_UNTRACKED_FILE_LIMIT",
        "YANEX_GIT_UNTRACKED_TOTAL_LIMIT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    # Points counted by a test are the script's: samples of system/ metrics, timed by the clock,
    # would add some (tests/test_system_metrics.py sets the interval it tests).
    monkeypatch.setenv("YANEX_SYSTEM_METRICS_INTERVAL", "0")
    return home


@pytest.fixture
def db(yanex_home: Path) -> Iterator[Database]:
    database = Database()
    yield database
    database.dispose()


@pytest.fixture
def write_script(tmp_path: Path):
    """Write a Python script into the test's temp dir; returns its path."""

    def write(name: str, body: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body))
        return path

    return write


def cli_commands() -> dict[str, list[str]]:
    """Every command of the real app, each with its subcommands (empty for a plain command), so that
    tests over "every command" cannot miss one added later."""
    import typer.main

    from yanex.cli.app import app

    group = typer.main.get_command(app)
    return {
        name: sorted(getattr(command, "commands", {}))
        for name, command in sorted(getattr(group, "commands", {}).items())
    }


def wait_until(condition: Callable[[], object], what: str = "condition", timeout: float = 60) -> None:
    """Poll for something another process does; the generous timeout only guards against hangs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# Readiness read off a process from /proc (Linux), for tests that must act only once another
# process has reached a point it cannot announce itself: waited for with ``wait_until``.


def process_state(pid: int) -> str:
    """The state letter of ``pid``'s main thread (R running, S sleeping, T stopped, Z zombie, ...);
    "" once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0].decode()
    except (OSError, IndexError):
        return ""


def signal_taken(pid: int, signum: int) -> bool:
    """``pid``, a Python process that waits in a system call on its main thread, has run its handler
    for ``signum``: the signal is pending neither for the process nor for that thread, and the
    thread is asleep again (a handler runs before the interrupted call resumes). Ask only once the
    signal was sent (a pseudo-terminal's Ctrl-C reaches the group a moment after the write)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return False
    pending = int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)
    return not pending & (1 << (signum - 1)) and process_state(pid) == "S"


def cpu_seconds(pid: int) -> float:
    """CPU time ``pid`` has used so far (user + system), from /proc; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def has_open(pid: int, path: Path) -> bool:
    """Whether ``pid`` holds ``path`` open (one of its descriptors points at it)."""
    target = str(path.resolve())
    try:
        descriptors = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in descriptors:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
        except OSError:
            continue
    return False


def _take_terminal() -> None:
    """In the child, after setsid: make stdin (a pty) the controlling terminal."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@contextmanager
def in_terminal(*args: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``args`` run as from a shell: a new session whose controlling terminal is a pseudo-terminal.
    Yields the process and the terminal's controller side (write ``b"\\x03"`` to type Ctrl-C)."""
    import pty

    controller, terminal = pty.openpty()
    try:
        yield (
            subprocess.Popen(
                args,
                stdin=terminal,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
                preexec_fn=_take_terminal,
            ),
            controller,
        )
    finally:
        os.close(terminal)
        os.close(controller)


def yanex_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120, **kwargs
) -> subprocess.CompletedProcess[str]:
    """The real ``yanex`` command in a subprocess, with the test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "yanex", *args],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real git repository with one commit."""
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "test@example.com")
    git("config", "user.name", "Test")
    (repo / "README").write_text("hello\n")
    git("add", "README")
    git("commit", "-q", "-m", "initial")
    return repo


# ---- The web view's tests (tests/test_ui*.py; their helpers are in tests/ui_support.py)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of 6 (tag ``sweep``) and one long run (``solo``), all run for real."""
    root = tmp_path_factory.mktemp("ui-store")
    (root / "train.py").write_text(textwrap.dedent(TRAIN))
    (root / "long.py").write_text(textwrap.dedent(LONG))
    home = root / "home"
    run(
        home,
        root,
        "train.py",
        "-p",
        "lr=logspace(-3,-1,3)",
        "-p",
        "seed=range(2)",
        "--tag",
        "sweep",
        "-j",
        "2",
    )
    run(home, root, "long.py", "--name", "solo", "--tag", "solo")
    return home


@pytest.fixture(scope="module")
def server(store: Path) -> Iterator[Server]:
    started = start(store)
    yield started
    stop(started)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None  # type: ignore[assignment]
    missing = "Debian's chromium (apt-get install chromium)" if executable is None else None
    if sync_playwright is None:
        missing = "playwright (pip install -e '.[dev]')"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the UI tests need {missing}")
        pytest.skip(f"the UI tests need {missing}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=BROWSER_ARGS)
        yield launched
        launched.close()

"""A child started ``dying_with_parent`` dies with the process that started it, killed outright,
both ways the kernel's parent-death signal is set (Linux)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import wait_until
from yanex.owners import process_alive

PARENT = """
import subprocess, sys, time
from yanex import processes
if sys.argv[1] == "preexec_fn":
    processes._setpriv = lambda: None
argv, hook = processes.dying_with_parent(["sleep", "300"])
assert (argv[0] == "sleep") == (sys.argv[1] == "preexec_fn")
child = subprocess.Popen(argv, preexec_fn=hook)
print(child.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("via", ["setpriv", "preexec_fn"])
def test_a_child_dies_with_its_parent_killed_outright(via: str) -> None:
    if via == "setpriv" and shutil.which("setpriv") is None:
        pytest.skip("no setpriv (util-linux) here")
    parent = subprocess.Popen([sys.executable, "-c", PARENT, via], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    # setpriv sets the signal, then execs: killed before that, the parent leaves the child to the
    # next yanex command (yanex.processes.kill_leftovers).
    wait_until(lambda: Path(f"/proc/{child}/cmdline").read_bytes().startswith(b"sleep"), what="the exec")
    parent.kill()
    parent.wait()
    wait_until(lambda: not process_alive(child), what="the child to die with its parent", timeout=10)

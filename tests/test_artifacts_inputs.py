"""What ``log_artifact`` takes in and ``yanex artifacts get`` writes out: regular files only, links
stored or left out by a rule and every left-out entry named, names a file system can hold, and
no write through a link or over a file without being asked."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import yanex
from tests.conftest import yanex_cli
from tests.test_artifacts_storage import blob_names, run
from yanex import config
from yanex.artifacts import blobs
from yanex.errors import UsageError, YanexWarning

FILE_LIMIT = 16 * 1024 * 1024  # bytes a test's child may write to one file: /dev/zero must not fill the disk

TRY_EACH = """
import sys, yanex
for source in sys.argv[1:]:
    try:
        yanex.log_artifact(source, "x.bin")
        print("stored:", source)
    except yanex.YanexError as error:
        print("refused:", error)
print("artifacts:", yanex.list_artifacts())
"""


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def run_limited(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``argv`` with a cap on file sizes and on time: what yanex did wrong shows as a failure,
    not as a full disk or a test that never ends."""
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=60, preexec_fn=limited, env=dict(os.environ)
    )


@pytest.fixture
def specials(tmp_path: Path) -> Iterator[list[str]]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    yield ["/dev/zero", str(fifo)]


@pytest.mark.parametrize("tracked", [False, True], ids=["untracked", "tracked"])
def test_log_artifact_refuses_what_is_no_regular_file(
    tracked: bool, specials: list[str], write_script, tmp_path: Path
) -> None:
    script = write_script("each.py", TRY_EACH)
    prefix = [sys.executable, *(["-m", "yanex", "run"] if tracked else []), str(script)]
    prefix += ["--"] if tracked else []
    done = run_limited([*prefix, *specials], tmp_path)
    assert done.returncode == 0, done.stderr
    if tracked:
        [log] = config.experiments_root().glob(f"*/{config.STDOUT_FILE}")
        output = log.read_text()
    else:
        output = done.stdout
    assert output.splitlines() == [
        "refused: yanex.log_artifact: '/dev/zero' is a character device, not a regular file "
        "(log a regular file, or a folder of them)",
        f"refused: yanex.log_artifact: '{specials[1]}' is a FIFO, not a regular file "
        "(log a regular file, or a folder of them)",
        "artifacts: []",
    ]
    assert not (tmp_path / "artifacts").exists()
    assert blob_names() == set()
    assert not list(config.blobs_root().glob(f"{blobs.TEMP_PREFIX}*"))


def make_folder(root: Path) -> Path:
    """A folder with one of every kind of entry a folder can hold."""
    folder = root / "out"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    (folder / "link_in").symlink_to("a.txt")  # a file in the folder: stored as its content
    (folder / "link_sub").symlink_to("sub")  # a folder in it: its files are stored once, as sub/
    (folder / "passwd").symlink_to("/etc/passwd")  # leaves the folder
    (folder / "dangling").symlink_to("nowhere")
    (folder / "loop").symlink_to("loop")
    (folder / "sub" / "up").symlink_to("..")  # a loop if it were followed
    os.mkfifo(folder / "fifo")
    bound = socket.socket(socket.AF_UNIX)
    bound.bind(str(folder / "sock"))
    bound.close()
    return folder


LEFT_OUT = [
    "dangling (a link to nothing)",
    "fifo (a FIFO)",
    "link_sub (a link to a folder in it, whose files are stored under their own names)",
    "loop (a link in a loop)",
    "passwd (a link leaving the folder, to /etc/passwd)",
    "sock (a socket)",
    "sub/up (a link to a folder in it, whose files are stored under their own names)",
]


def test_a_folder_stores_links_inside_it_and_names_every_entry_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_folder(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.warns(YanexWarning) as warned:
        assert yanex.log_artifact(folder) == "out"
    [warning] = warned
    left_out = ", ".join(LEFT_OUT)
    assert str(warning.message) == (
        f"yanex.log_artifact stored 3 files of {str(folder)!r} as out/ and left out 7: {left_out}"
    )
    assert yanex.list_artifacts() == ["out/a.txt", "out/link_in", "out/sub/b.txt"]
    assert yanex.load_artifact("out/link_in") == b"a"


def test_a_tracked_folder_save_names_what_it_left_out_in_the_experiments_stderr(
    write_script, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path)
    script = write_script("folder.py", "import sys, yanex\nyanex.log_artifact(sys.argv[1])\n")
    done = run_limited([sys.executable, "-m", "yanex", "run", str(script), "--", str(folder)], tmp_path)
    assert done.returncode == 0, done.stderr
    [experiment] = [path.name for path in config.experiments_root().iterdir()]
    assert yanex.list_artifacts(experiment) == ["out/a.txt", "out/link_in", "out/sub/b.txt"]
    assert yanex.load_artifact("out/link_in", experiment) == b"a"
    stderr = (config.experiment_dir(experiment) / config.STDERR_FILE).read_text()
    assert "YanexWarning: yanex.log_artifact stored 3 files" in stderr
    assert "passwd (a link leaving the folder, to /etc/passwd)" in stderr


@pytest.mark.parametrize(
    "name", ["x" * 252 + ".json", "plots/" + "é" * 126 + ".json", "a/" + "b" * 300 + "/c.json"]
)
def test_a_name_part_over_255_bytes_is_one_error_before_anything_is_written(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"bytes; a file name holds at most 255") as refused:
        yanex.save_artifact({"a": 1}, name)
    assert "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_long_name_in_a_tracked_folder_save_writes_nothing(write_script, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "one.txt").write_text("1")
    script = write_script(
        "long.py",
        "import sys, yanex\n"
        "try:\n"
        "    yanex.log_artifact(sys.argv[1], 'f' * 256)\n"
        "except yanex.YanexError as error:\n"
        "    print('refused:', error)\n",
    )
    experiment = run(script, "--", str(folder))
    assert (
        "bytes; a file name holds at most 255"
        in (config.experiment_dir(experiment) / config.STDOUT_FILE).read_text()
    )
    assert yanex.list_artifacts(experiment) == []
    assert blob_names() == set()


GET_SOURCE = "import yanex\nyanex.save_artifact('new', 'a.txt')\nyanex.save_artifact('plot', 'plots/p.txt')\n"


def refused(done: subprocess.CompletedProcess[str], error: str, hint: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"Error: {error}\n"), done.stderr
    assert f"Hint: {hint}" in done.stderr and "Traceback" not in done.stderr


def test_get_writes_through_no_link_and_over_no_file_unless_forced(write_script, tmp_path: Path) -> None:
    experiment = run(write_script("two.py", GET_SOURCE))
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = tmp_path / "link.txt"
    link.symlink_to(victim)
    for force in ([], ["--force"]):
        done = yanex_cli("artifacts", "get", experiment, "a.txt", "-o", str(link), *force)
        refused(done, f"{link} is a symbolic link; yanex does not write through one", "remove the link")
    assert victim.read_text() == "precious" and link.is_symlink()

    done = yanex_cli("artifacts", "get", experiment, "a.txt", "-o", str(victim))
    refused(done, f"{victim} exists", "pass --force to replace it, or -o another path")
    assert victim.read_text() == "precious"
    # The default target, a file of that name here, is no different.
    done = yanex_cli("artifacts", "get", experiment, "a.txt", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "a.txt").read_text() == "new"
    refused(yanex_cli("artifacts", "get", experiment, "a.txt", cwd=tmp_path), "a.txt exists", "pass --force")
    done = yanex_cli("artifacts", "get", experiment, "a.txt", "-o", str(victim), "--force")
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "new" and not victim.is_symlink()

    # A folder: each file it would write is looked at first, and nothing is written if one is refused.
    folder = tmp_path / "plots"
    folder.mkdir()
    other = tmp_path / "other.txt"
    other.write_text("mine")
    (folder / "p.txt").symlink_to(other)
    done = yanex_cli("artifacts", "get", experiment, "plots", "-o", str(folder), "--force")
    refused(
        done, f"{folder / 'p.txt'} is a symbolic link; yanex does not write through one", "remove the link"
    )
    assert other.read_text() == "mine"
    piped = yanex_cli("artifacts", "get", experiment, "a.txt", "-o", "-")
    assert piped.returncode == 0 and piped.stdout == "new"

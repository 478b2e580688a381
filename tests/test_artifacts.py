"""Artifacts from scripts: every format round-trips, names cannot escape, untracked runs keep to
./artifacts, other experiments' artifacts are read by id or name, and the CLI lists and copies them.

Scripts run for real (``yanex run`` as a subprocess); the test process reads what they stored
through the same public API an untracked script uses.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import yanex
from tests.conftest import yanex_cli
from tests.stored import run_id
from tests.test_startup import HEAVY, imported_modules
from yanex import config
from yanex.cli.app import app
from yanex.errors import NotFoundError, UsageError

runner = CliRunner()

ROWS = [{"epoch": 0, "loss": 0.5, "tag": "a"}, {"epoch": 1, "loss": 0.25, "tag": "b"}]
FORMATS_SCRIPT = """
import numpy as np, pandas as pd, yanex
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

yanex.save_artifact({"lr": 0.1, "layers": [64, 32], "name": "Zürich"}, "config.json")
yanex.save_artifact({"lr": 0.1, "nested": {"a": [1, 2]}}, "config.yaml")
yanex.save_artifact("line one\\nline two\\n", "notes/readme.txt")
yanex.save_artifact(ROWS, "rows.csv")
yanex.save_artifact(pd.DataFrame(ROWS), "frame.csv")
yanex.save_artifact(np.arange(12, dtype=np.float32).reshape(3, 4), "weights.npy")
yanex.save_artifact({"a": np.arange(3), "b": np.eye(2)}, "arrays.npz")
yanex.save_artifact({"any": {1, 2}}, "state.pkl", allow_pickle=True)
figure, axes = plt.subplots(figsize=(4, 3), dpi=50)
axes.plot([0, 1], [1, 0])
for ext in ("png", "pdf", "svg"):
    yanex.save_artifact(figure, f"plots/loss.{ext}")
# Read back in the script, before any ingest: from its own view.
assert yanex.load_artifact("config.json")["layers"] == [64, 32]
assert yanex.load_artifact("weights.npy").shape == (3, 4)
print(",".join(yanex.list_artifacts()))
""".replace("ROWS", repr(ROWS))
NAMES = [
    "arrays.npz",
    "config.json",
    "config.yaml",
    "frame.csv",
    "notes/readme.txt",
    "plots/loss.pdf",
    "plots/loss.png",
    "plots/loss.svg",
    "rows.csv",
    "state.pkl",
    "weights.npy",
]


def run(script: Path, *args: str) -> str:
    """Run ``script`` tracked with ``yanex run``; returns the experiment's id."""
    done = yanex_cli("run", str(script), *args, cwd=script.parent)
    assert done.returncode == 0, done.stderr
    return only_id(done.stderr)


def only_id(stderr: str, home: Path | None = None) -> str:
    assert "yanex: experiment " in stderr, stderr
    return run_id(stderr, home)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One tracked run of FORMATS_SCRIPT (module-wide: it is the slow part): (home, id, stdout)."""
    home = tmp_path_factory.mktemp("artifacts-home")
    folder = tmp_path_factory.mktemp("artifacts-script")
    script = folder / "formats.py"
    script.write_text(FORMATS_SCRIPT)
    env = {**os.environ, "YANEX_HOME": str(home)}
    for name in ("YANEX_DATABASE_URL", "YANEX_EXPERIMENT_ID", "YANEX_EXPERIMENT_DIR"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "yanex", "run", str(script), "--name", "formats"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    stdout = (home / "experiments" / only_id(done.stderr, home) / config.STDOUT_FILE).read_text()
    return home, only_id(done.stderr, home), stdout


@pytest.fixture
def formats_home(saved: tuple[Path, str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("YANEX_HOME", str(saved[0]))
    return saved[1]


def test_the_script_saved_and_listed_every_format(saved: tuple[Path, str, str]) -> None:
    assert saved[2].strip() == ",".join(NAMES)


def test_every_format_round_trips_from_another_process(formats_home: str) -> None:
    experiment = formats_home
    assert yanex.list_artifacts(experiment) == NAMES
    assert yanex.load_artifact("config.json", experiment) == {
        "lr": 0.1,
        "layers": [64, 32],
        "name": "Zürich",
    }
    assert yanex.load_artifact("config.yaml", "formats") == {"lr": 0.1, "nested": {"a": [1, 2]}}
    assert yanex.load_artifact("notes/readme.txt", experiment) == "line one\nline two\n"
    for name in ("rows.csv", "frame.csv"):
        frame = yanex.load_artifact(name, experiment)
        assert isinstance(frame, pd.DataFrame) and frame.to_dict("records") == ROWS
    weights = yanex.load_artifact("weights.npy", experiment)
    assert weights.dtype == np.float32
    assert np.array_equal(weights, np.arange(12, dtype=np.float32).reshape(3, 4))
    arrays = yanex.load_artifact("arrays.npz", experiment)
    assert sorted(arrays) == ["a", "b"]
    assert np.array_equal(arrays["a"], np.arange(3)) and np.array_equal(arrays["b"], np.eye(2))
    assert yanex.load_artifact("state.pkl", experiment, allow_pickle=True) == {"any": {1, 2}}


def test_figures_are_real_images_of_the_figure(formats_home: str) -> None:
    import matplotlib.image

    png = yanex.load_artifact("plots/loss.png", formats_home)
    assert png.startswith(b"\x89PNG")
    pixels = matplotlib.image.imread(yanex.artifact_path("plots/loss.png", formats_home))
    assert pixels.shape[:2] == (150, 200)  # 3 x 4 inches at 50 dpi
    assert yanex.load_artifact("plots/loss.pdf", formats_home).startswith(b"%PDF")
    assert b"<svg" in yanex.load_artifact("plots/loss.svg", formats_home)


def test_a_pickle_is_loaded_only_when_asked(formats_home: str) -> None:
    with pytest.raises(UsageError, match="pickle, which runs code"):
        yanex.load_artifact("state.pkl", formats_home)


def test_artifact_path_is_a_read_only_file_with_the_content(formats_home: str) -> None:
    path = yanex.artifact_path("config.json", formats_home)
    assert path.name == "config.json"
    assert json.loads(path.read_text())["lr"] == 0.1
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    folder = yanex.artifact_path("plots", formats_home)
    assert sorted(p.name for p in folder.iterdir()) == ["loss.pdf", "loss.png", "loss.svg"]


def test_a_view_is_made_when_a_path_is_asked_for_and_again_when_removed(formats_home: str) -> None:
    view = config.artifacts_view(formats_home) / "notes" / "readme.txt"
    view.unlink(missing_ok=True)
    assert yanex.load_artifact("notes/readme.txt", formats_home) == "line one\nline two\n"
    assert not view.exists()  # loading reads the stored content: no view needed
    assert yanex.artifact_path("notes/readme.txt", formats_home) == view
    assert view.read_text() == "line one\nline two\n"
    view.unlink()
    assert yanex.artifact_path("notes/readme.txt", formats_home).read_text() == "line one\nline two\n"


def test_missing_artifacts_and_experiments_are_clear_errors(formats_home: str) -> None:
    with pytest.raises(NotFoundError, match=r"has no artifact 'nope\.json' \(it has arrays\.npz"):
        yanex.load_artifact("nope.json", formats_home)
    with pytest.raises(NotFoundError, match="no experiment matches"):
        yanex.load_artifact("config.json", "no-such-experiment")
    with pytest.raises(UsageError, match="is a folder of artifacts"):
        yanex.load_artifact("plots", formats_home)


def test_cli_lists_artifacts_as_table_and_json(formats_home: str) -> None:
    table = runner.invoke(app, ["artifacts", formats_home])
    assert table.exit_code == 0, table.output
    rows = table.stdout.splitlines()
    assert [row.split()[0] for row in rows] == NAMES
    assert table.stderr.split() == ["name", "size", "sha256", "created"]
    listed = json.loads(runner.invoke(app, ["artifacts", "formats", "--format", "json"]).stdout)
    first = listed[1]
    blob = config.blobs_root() / first["sha256"][:2] / first["sha256"]
    assert first["name"] == "config.json" and first["size"] == blob.stat().st_size
    assert first["media_type"] == "application/json"
    assert first["sha256"][:12] in rows[1]


def test_cli_gets_a_file_a_folder_and_to_stdout(formats_home: str, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    done = runner.invoke(app, ["artifacts", "get", formats_home, "config.json", "-o", str(out)])
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text())["name"] == "Zürich"
    assert os.access(out, os.W_OK)  # a copy the user may change, not the shared blob
    folder = tmp_path / "plots"
    assert runner.invoke(app, ["artifacts", "get", "formats", "plots", "-o", str(folder)]).exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["loss.pdf", "loss.png", "loss.svg"]
    piped = yanex_cli("artifacts", "get", formats_home, "notes/readme.txt", "-o", "-")
    assert piped.returncode == 0 and piped.stdout == "line one\nline two\n"
    # A file to an existing folder goes inside it, as with cp; an unwritable place is one error line.
    into = runner.invoke(app, ["artifacts", "get", formats_home, "config.json", "-o", str(folder)])
    assert into.exit_code == 0, into.output
    assert json.loads((folder / "config.json").read_text())["name"] == "Zürich"
    nowhere = yanex_cli("artifacts", "get", formats_home, "config.json", "-o", str(out / "x.json"))
    assert nowhere.returncode == 2 and "Traceback" not in nowhere.stderr
    assert nowhere.stderr.startswith(f"Error: cannot write {out / 'x.json'}"), nowhere.stderr


def test_cli_show_lists_artifacts(formats_home: str) -> None:
    shown = runner.invoke(app, ["show", formats_home])
    assert shown.exit_code == 0, shown.output
    block = shown.stdout.split(f"Artifacts (yanex artifacts {formats_home[:8]})", 1)[1]
    assert "config.json" in block and "plots/loss.png" in block
    record = json.loads(runner.invoke(app, ["show", formats_home, "--format", "json"]).stdout)
    assert [a["name"] for a in record["artifacts"]] == NAMES


@pytest.mark.parametrize(
    "name", ["../x.json", "/etc/x.json", "a/../../x.json", "a\x00b.json", "..", ".", "", "a\\..\\x.json"]
)
def test_names_that_escape_are_refused_before_anything_is_written(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as refused:
        yanex.save_artifact({"a": 1}, name)
    assert "\n" not in str(refused.value)
    assert list(tmp_path.iterdir()) == []


def test_a_cli_name_that_escapes_is_one_error_line(formats_home: str) -> None:
    done = yanex_cli("artifacts", "get", formats_home, "../../yanex.db")
    assert done.returncode == 2
    assert done.stderr.startswith("Error: artifact name '../../yanex.db' leaves")
    assert len(done.stderr.splitlines()) == 2 and "Hint:" in done.stderr


def test_a_tracked_script_refuses_an_escaping_name_and_writes_nothing(write_script, yanex_home: Path) -> None:
    script = write_script("escape.py", "import yanex\nyanex.save_artifact('x', 'a/../../../escaped.txt')\n")
    done = yanex_cli("run", str(script), cwd=script.parent)
    assert done.returncode == 1
    assert "UsageError: artifact name 'a/../../../escaped.txt' leaves" in done.stderr
    assert not list(yanex_home.rglob("escaped.txt"))


def test_unsupported_extensions_name_the_supported_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"no format for \.bin; it saves \.json, \.yaml.*\.pkl") as refused:
        yanex.save_artifact(b"x", "model.bin")
    assert "log_artifact" in (refused.value.hint or "")
    with pytest.raises(UsageError, match="the name has no extension"):
        yanex.save_artifact("x", "README")
    with pytest.raises(UsageError, match="pickle, which runs code"):
        yanex.save_artifact({"a": 1}, "state.pkl")
    with pytest.raises(UsageError, match=r"a \.txt artifact is saved from a str, got int"):
        yanex.save_artifact(3, "x.txt")
    with pytest.raises(UsageError, match=r"a \.npy artifact is saved from a numpy array, got list"):
        yanex.save_artifact([1, 2], "x.npy")
    assert not (tmp_path / "artifacts").exists() or not any((tmp_path / "artifacts").rglob("*.*"))


STANDALONE = """
import yanex
assert yanex.is_standalone()
yanex.save_artifact({"epochs": 3}, "summary.json")
yanex.log_artifact("data")
yanex.log_artifact("data/a.txt", "renamed.txt")
print(yanex.load_artifact("summary.json")["epochs"], ",".join(yanex.list_artifacts()))
print(yanex.artifact_path("data/sub/b.txt").read_text())
"""


def test_an_untracked_script_saves_to_its_artifacts_folder_and_touches_no_store(
    write_script, tmp_path: Path, yanex_home: Path
) -> None:
    script = write_script("standalone.py", STANDALONE)
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "a.txt").write_text("A")
    (tmp_path / "data" / "sub" / "b.txt").write_text("B")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["3 data/a.txt,data/sub/b.txt,renamed.txt,summary.json", "B"]
    assert json.loads((tmp_path / "artifacts" / "summary.json").read_text()) == {"epochs": 3}
    assert (tmp_path / "artifacts" / "renamed.txt").read_text() == "A"
    assert not yanex_home.exists()


LOGGED = """
import pathlib, yanex
data = pathlib.Path("data")
(data / "sub").mkdir(parents=True)
(data / "a.txt").write_text("A")
(data / "sub" / "b.txt").write_text("B")
names = [yanex.log_artifact(data), yanex.log_artifact(data / "a.txt")]
names.append(yanex.log_artifact(data / "a.txt", "x/y.txt"))
print(*names)
print(",".join(yanex.list_artifacts()))
print(yanex.artifact_path("data").is_dir(), yanex.load_artifact("data/sub/b.txt"))
"""


def test_log_artifact_stores_files_and_folders_recursively(write_script) -> None:
    script = write_script("logged.py", LOGGED)
    experiment = run(script)
    stdout = (config.experiment_dir(experiment) / config.STDOUT_FILE).read_text().splitlines()
    assert stdout == ["data a.txt x/y.txt", "a.txt,data/a.txt,data/sub/b.txt,x/y.txt", "True B"]
    assert yanex.list_artifacts(experiment) == ["a.txt", "data/a.txt", "data/sub/b.txt", "x/y.txt"]
    assert yanex.load_artifact("x/y.txt", experiment) == "A"
    # .txt logged from a file loads as text; a name without a known format loads as bytes
    assert yanex.artifact_path("data/sub/b.txt", experiment).read_bytes() == b"B"


def test_saving_a_name_again_replaces_it(write_script) -> None:
    script = write_script(
        "again.py",
        "import yanex\nyanex.save_artifact('first', 'a.txt')\nyanex.save_artifact('second', 'a.txt')\n"
        "print(yanex.load_artifact('a.txt'))\n",
    )
    experiment = run(script)
    assert (config.experiment_dir(experiment) / config.STDOUT_FILE).read_text() == "second\n"
    assert yanex.load_artifact("a.txt", experiment) == "second"
    listed = json.loads(runner.invoke(app, ["artifacts", experiment, "-f", "json"]).stdout)
    assert [a["size"] for a in listed] == [len("second")]


def test_a_name_clashing_with_a_folder_of_artifacts_is_refused(write_script) -> None:
    script = write_script(
        "clash.py",
        "import yanex\nyanex.save_artifact('x', 'a.txt/b.txt')\n"
        "try:\n    yanex.save_artifact('y', 'a.txt')\nexcept yanex.YanexError as e:\n    print(e.message)\n",
    )
    experiment = run(script)
    out = (config.experiment_dir(experiment) / config.STDOUT_FILE).read_text()
    assert "artifact 'a.txt' would replace the folder of artifacts a.txt/" in out
    assert yanex.list_artifacts(experiment) == ["a.txt/b.txt"]


@pytest.mark.parametrize("tracked", [False, True], ids=["standalone", "tracked"])
def test_saving_artifacts_loads_nothing_heavy(tracked: bool, tmp_path: Path, yanex_home: Path) -> None:
    env: dict[str, str] = {}
    if tracked:
        directory = config.experiment_dir("0123abcd")
        directory.mkdir(parents=True)
        env = {config.EXPERIMENT_ID_ENV: "0123abcd", config.EXPERIMENT_DIR_ENV: str(directory)}
    code = (
        f"import os; os.chdir({str(tmp_path)!r}); import yanex; yanex.save_artifact({{'a': 1}}, 'a.json');"
        "yanex.save_artifact('t', 'a.txt'); yanex.load_artifact('a.json'); yanex.list_artifacts()"
    )
    loaded = imported_modules("-c", code, env=env)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_reading_another_experiments_artifact_loads_nothing_heavy(formats_home: str) -> None:
    code = f"import yanex; assert yanex.load_artifact('config.json', {formats_home!r})['lr'] == 0.1"
    loaded = imported_modules("-c", code)
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def _torch() -> Any:
    """torch, which the dev extra leaves out (a CUDA build is several GB): the test skips without
    it, unless YANEX_REQUIRE_TORCH=1 (set by .ci/run, which installs it), where it fails."""
    try:
        import torch
    except ImportError:
        if os.environ.get("YANEX_REQUIRE_TORCH") == "1":
            pytest.fail("YANEX_REQUIRE_TORCH=1 but torch is not installed (.ci/run installs torch==2.13.0)")
        pytest.skip("torch is not installed: .venv/bin/pip install torch==2.13.0 (docs/development.md)")
    return torch


@pytest.mark.slow  # importing torch takes seconds, twice
def test_torch_checkpoints_round_trip(write_script) -> None:
    torch = _torch()
    script = write_script(
        "ckpt.py",
        "import torch, yanex\ntorch.manual_seed(0)\nmodel = torch.nn.Linear(3, 2)\n"
        "yanex.save_artifact(model.state_dict(), 'model.pt')\n"
        "yanex.save_artifact(torch.arange(4), 'tensor.pth')\n",
    )
    experiment = run(script)
    state: dict[str, Any] = yanex.load_artifact("model.pt", experiment)
    torch.manual_seed(0)
    expected = torch.nn.Linear(3, 2).state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[key], expected[key]) for key in expected)
    assert torch.equal(yanex.load_artifact("tensor.pth", experiment), torch.arange(4))

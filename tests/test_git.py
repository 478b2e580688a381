"""Git capture against real repositories made in the test."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.stored import full_id, get_experiment, run_id
from yanex import config
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.outgoing import leave_out_secrets
from yanex.runner.environment import capture_environment, this_process
from yanex.runner.git import capture_git, strip_credentials
from yanex.specs import ExperimentSpec, ExperimentView, GitInfo, OmittedChange, Status
from yanex.store.experiments import create_experiments
from yanex.store.reading import reading


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def test_clean_repository(git_repo: Path) -> None:
    info = capture_git(git_repo / "README")
    assert info == GitInfo(
        commit=git(git_repo, "rev-parse", "HEAD").strip(),
        branch="main",
        dirty=False,
        commit_message="initial",
        author_name="Test",
        author_email="test@example.com",
        commit_on_remote=False,
    )
    assert capture_git(git_repo) == info  # a folder works as well as a file in it


def test_patch_holds_tracked_and_untracked_changes_but_not_ignored(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / ".gitignore").write_text("*.log\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-q", "-m", "ignore logs")
    git(git_repo, "checkout", "-q", "-b", "feature")
    (git_repo / "README").write_text("hello\nchanged\n")
    (git_repo / "sub").mkdir()
    (git_repo / "sub" / "new.py").write_text("print('new')\n")
    (git_repo / "run.log").write_text("ignored\n")
    (git_repo / "staged.txt").write_text("staged\n")
    git(git_repo, "add", "staged.txt")

    info = capture_git(git_repo / "sub" / "new.py")
    assert (info.branch, info.dirty) == ("feature", True)
    assert info.commit == git(git_repo, "rev-parse", "HEAD").strip()
    assert info.patch is not None
    assert "+changed" in info.patch and "+print('new')" in info.patch and "+staged" in info.patch
    assert "ignored" not in info.patch

    # The patch reproduces the working tree on a clean checkout of the recorded commit.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(git_repo), str(clone)], check=True)
    git(clone, "checkout", "-q", info.commit)
    subprocess.run(["git", "apply", "-"], cwd=clone, input=info.patch, text=True, check=True)
    for name in ("README", "sub/new.py", "staged.txt"):
        assert (clone / name).read_text() == (git_repo / name).read_text()
    assert not (clone / "run.log").exists()


def test_large_tracked_change_is_kept_whole(git_repo: Path, db: Database) -> None:
    (git_repo / "data.txt").write_text("first\n")
    git(git_repo, "add", "data.txt")
    git(git_repo, "commit", "-q", "-m", "data")
    big = "".join(f"line {i:07d} of a large generated file\n" for i in range(120_000))  # ~4.6 MB
    (git_repo / "data.txt").write_text(big)
    info = capture_git(git_repo)
    assert info.patch is not None and len(info.patch) > len(big)
    assert all(f"+line {i:07d} of" in info.patch for i in (0, 59_999, 119_999))
    spec = ExperimentSpec(script_path=git_repo / "README")
    [experiment_id] = create_experiments(
        db, [spec], status=Status.CREATED, owner=this_process(), git=info, environment=capture_environment()
    )
    assert get_experiment(db, experiment_id).git.patch == info.patch


def test_detached_head_has_no_branch(git_repo: Path) -> None:
    head = git(git_repo, "rev-parse", "HEAD").strip()
    git(git_repo, "checkout", "-q", "--detach")
    info = capture_git(git_repo)
    assert (info.commit, info.branch, info.dirty, info.patch) == (head, None, False, None)


def test_repository_without_commits(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "a.py").write_text("x = 1\n")
    info = capture_git(repo / "a.py")
    assert (info.commit, info.branch, info.dirty) == (None, "main", True)
    assert info.patch is not None and "+x = 1" in info.patch


def test_outside_a_repository_everything_is_empty(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "s.py").write_text("")
    assert capture_git(folder / "s.py") == GitInfo()
    assert capture_git(tmp_path / "does-not-exist" / "s.py") == GitInfo()


def test_yanex_run_records_git_state(git_repo: Path, db: Database) -> None:
    (git_repo / "train.py").write_text("print('hi')\n")
    result = CliRunner().invoke(app, ["run", str(git_repo / "train.py")])
    assert result.exit_code == 0, result.output
    [experiment_id] = [p.name for p in config.experiments_root().iterdir()]
    recorded = get_experiment(db, experiment_id).git
    assert recorded.commit == git(git_repo, "rev-parse", "HEAD").strip()
    assert (recorded.branch, recorded.dirty) == ("main", True)
    assert recorded.patch is not None and "+print('hi')" in recorded.patch


# What the patch leaves out, and why (issue 8)

runner = CliRunner()


def run_script(script: Path) -> tuple[ExperimentView, str]:
    """``yanex run`` the script; the experiment it recorded, and what yanex printed on stderr."""
    result = runner.invoke(app, ["run", str(script)])
    assert result.exit_code == 0, result.output
    experiment_id = run_id(result.stderr)
    return get_experiment(Database(), experiment_id), result.stderr


def left_out_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("yanex: git patch leaves out")]


def applied(repo: Path, tmp_path: Path, info: GitInfo) -> Path:
    """A clone of ``repo`` at the recorded commit with the recorded patch applied."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    assert info.commit is not None
    git(clone, "checkout", "-q", info.commit)
    if info.patch:
        subprocess.run(["git", "apply", "-"], cwd=clone, input=info.patch.encode(), check=True)
    return clone


def database_bytes() -> int:
    """Size of the database file once its write-ahead log is checkpointed into it."""
    path = config.yanex_home() / "yanex.db"
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.stat().st_size


def test_untracked_files_go_in_only_as_small_text_within_the_limits(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("YANEX_GIT_UNTRACKED_FILE_LIMIT", "1K")
    monkeypatch.setenv("YANEX_GIT_UNTRACKED_TOTAL_LIMIT", "2k")
    (git_repo / "README").write_text("hello\n" + "tracked changes have no limit\n" * 200)  # ~6 KB
    (git_repo / "a.txt").write_text("a" * 899 + "\n")
    (git_repo / "b.txt").write_text("b" * 899 + "\n")
    (git_repo / "c.txt").write_text("c" * 899 + "\n")  # 2,700 bytes with a and b: over the total
    (git_repo / "d.txt").write_text("d" * 1500)
    (git_repo / "e.bin").write_bytes(b"\x00\x01binary")
    (git_repo / "f.txt").write_bytes("caf\xe9 in latin-1\n".encode("latin-1"))

    info = capture_git(git_repo)
    assert info.omitted == [
        OmittedChange(path="c.txt", reason="untracked files over 2 KiB in all"),
        OmittedChange(path="d.txt", reason="over 1 KiB"),
        OmittedChange(path="e.bin", reason="binary"),
        OmittedChange(path="f.txt", reason="not UTF-8 text"),
    ]
    assert left_out_lines(capsys.readouterr().err) == [
        "yanex: git patch leaves out 4 changes: c.txt (untracked files over 2 KiB in all), "
        "d.txt (over 1 KiB), "
        "e.bin (binary), f.txt (not UTF-8 text)"
    ]
    assert info.dirty is True
    clone = applied(git_repo, tmp_path, info)
    for name in ("README", "a.txt", "b.txt"):
        assert (clone / name).read_text() == (git_repo / name).read_text()
    assert not any((clone / name).exists() for name in ("c.txt", "d.txt", "e.bin", "f.txt"))

    monkeypatch.setenv("YANEX_GIT_UNTRACKED_TOTAL_LIMIT", "0")
    assert {o.path for o in capture_git(git_repo).omitted} == {
        "a.txt",
        "b.txt",
        "c.txt",
        "d.txt",
        "e.bin",
        "f.txt",
    }


def test_a_tracked_change_that_is_not_utf8_is_named_not_mangled(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "notes.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    git(git_repo, "add", "notes.txt")
    git(git_repo, "commit", "-q", "-m", "latin-1 notes")
    (git_repo / "notes.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    (git_repo / "README").write_text("hello\nagain\n")

    info = capture_git(git_repo)
    assert info.omitted == [OmittedChange(path="notes.txt", reason="its changes are not UTF-8 text")]
    clone = applied(git_repo, tmp_path, info)
    assert (clone / "README").read_text() == "hello\nagain\n"
    assert (clone / "notes.txt").read_bytes() == "caf\xe9\n".encode("latin-1")


def test_a_folder_of_many_files_left_out_is_summed_up(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "images").mkdir()
    for i in range(150):
        (git_repo / "images" / f"{i:03d}.png").write_bytes(b"\x89PNG\x00")
    info = capture_git(git_repo)
    assert len(info.omitted) == 100  # the row stays small however many files there are
    assert info.omitted[0] == OmittedChange(path="images/000.png", reason="binary")
    assert info.omitted[-1] == OmittedChange(path="…", reason="and 51 more")
    [line] = left_out_lines(capsys.readouterr().err)
    assert line.startswith("yanex: git patch leaves out 150 changes: images/000.png (binary), ")
    assert line.endswith("images/009.png (binary), and 140 more")


@pytest.mark.parametrize("value", ["lots", "1.5M", "-3", "K"])
def test_a_malformed_limit_is_refused_with_a_hint(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("YANEX_GIT_UNTRACKED_FILE_LIMIT", value)
    (git_repo / "train.py").write_text("print('never runs')\n")
    result = runner.invoke(app, ["run", str(git_repo / "train.py")])
    assert result.exit_code == 2
    assert f"Error: YANEX_GIT_UNTRACKED_FILE_LIMIT={value!r} is not a size" in result.stderr
    assert "Hint: give a number of bytes, or a number with K, M or G" in result.stderr
    assert "never runs" not in result.output and "Traceback" not in result.output


SECRET_FILES = [
    ".env",
    ".env.local",
    "deploy/prod.env",
    ".envrc",
    "id_rsa",
    "keys/id_ed25519.pub",
    "server.pem",
    "tls.key",
    "cert.p12",
    "credentials.json",
    ".aws/config",
    ".ssh/known_hosts",
    "client_secret.json",
    ".netrc",
    ".pgpass",
    "secretary.md",  # `*secret*` is broad on purpose: better a note left out than a secret kept
]
ORDINARY_FILES = ["id_utils.py", "environment.yml", "tokenizer.py", "keys.py", "envelope.txt"]


def test_files_named_like_secrets_are_never_captured(git_repo: Path, db: Database) -> None:
    access_key = "AKIA" + "Q" * 16
    for name in SECRET_FILES + ORDINARY_FILES:
        path = git_repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"value = {len(name)}\n")
    (git_repo / ".env").write_text(f"AWS_ACCESS_KEY_ID={access_key}\n")
    (git_repo / "train.py").write_text("print('hi')\n")

    view, stderr = run_script(git_repo / "train.py")
    secret_like = [o for o in view.git.omitted if o.reason == "its name looks like a secret file"]
    assert sorted(o.path for o in secret_like) == sorted(SECRET_FILES)
    assert view.git.patch is not None
    for name in ORDINARY_FILES:
        assert f"+++ b/{name}\n" in view.git.patch
    assert "+++ b/.env" not in view.git.patch and access_key not in view.git.patch
    [line] = left_out_lines(stderr)
    assert ".env (its name looks like a secret file)" in line and f"{len(view.git.omitted)} changes" in line
    db.dispose()
    assert access_key.encode() not in (config.yanex_home() / "yanex.db").read_bytes()


def fake(prefix: str, length: int) -> str:
    """A credential-shaped string made up here, so no real-looking key is committed to this repo."""
    body = "a1B2c3D4e5" * (length // 10 + 1)
    return prefix + body[:length]


SHAPES = [
    (f"aws_access_key_id = {'AKIA' + 'ABCDEFGHIJKLMNOP'}", "an AWS access key id"),
    (f'aws_secret_access_key = "{fake("", 40)}"', "an AWS secret access key"),
    (f"GITHUB_TOKEN={fake('ghp_', 36)}", "a GitHub token"),
    (f"url = 'https://{fake('github_pat_', 60)}@github.com/x'", "a GitHub token"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "a private key"),
    ("-----BEGIN RSA PRIVATE KEY-----", "a private key"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----", "a private key"),
    (f"slack = {fake('xoxb-', 30)}", "a Slack token"),
    (f"login(token={fake('hf_', 34)})", "a Hugging Face token"),
    (f"client = OpenAI(api_key=get({fake('sk-proj-', 24)}T3BlbkFJ{fake('', 24)}))", "an OpenAI API key"),
    (f"x = {fake('sk-ant-api03-', 90)}", "an Anthropic API key"),
    (f"maps({fake('AIza', 35)})", "a Google API key"),
    (f"stripe.key = {fake('sk_live_', 24)}", "a Stripe key"),
    ('DB_PASSWORD="hunter2hunter2"', "a password or token"),
    ("password: s3cr3t-Passw0rd", "a password or token"),
    ('{"api_key": "abc123def456ghi"}', "a password or token"),
    ("export WANDB_API_KEY=0123456789abcdef0123", "a password or token"),
]


@pytest.mark.parametrize(("line", "what"), SHAPES, ids=[what + str(i) for i, (_, what) in enumerate(SHAPES)])
def test_credentials_are_recognised(line: str, what: str) -> None:
    patch = (
        f"diff --git a/s.py b/s.py\nnew file mode 100644\n--- /dev/null\n+++ b/s.py\n@@ -0,0 +1 @@\n+{line}\n"
    )
    assert leave_out_secrets(patch) == ("", [OmittedChange(path="s.py", reason=f"looks like {what}")])


ORDINARY_CODE = """\
tokenizer = AutoTokenizer.from_pretrained("bert-base-uncased")
eos_token = "</s>"
pad_token = "[PAD]"
bos_token: "<|begin_of_text|>"
max_tokens = 4096
token_ids = tokenizer(text)["input_ids"]
password = os.environ["DB_PASSWORD"]
secret = hashlib.sha256(data).hexdigest()
api_key = "YOUR_API_KEY_HERE"
hf_token = os.environ.get("HF_TOKEN")
sort_key = "created_at_2024"
if password == "":
    raise ValueError("no password")
ASIA_PACIFIC = "asia-pacific-region-1"
disk-usage-sk-report
self.secret_sauce = 42
"""


def test_ordinary_code_is_not_taken_for_credentials() -> None:
    body = "".join(f"+{line}\n" for line in ORDINARY_CODE.splitlines())
    count = len(ORDINARY_CODE.splitlines())
    patch = f"diff --git a/m.py b/m.py\n--- a/m.py\n+++ b/m.py\n@@ -1 +1,{count} @@\n{body}"
    assert leave_out_secrets(patch) == (patch, [])


def test_hunks_that_hold_credentials_are_left_out(git_repo: Path, tmp_path: Path, db: Database) -> None:
    lines = [f"setting_{i} = {i}\n" for i in range(60)]
    (git_repo / "config.py").write_text("".join(lines))
    (git_repo / "keys.txt").write_text("no key yet\n")
    git(git_repo, "add", "config.py", "keys.txt")
    git(git_repo, "commit", "-q", "-m", "config")
    lines[4] = "setting_4 = 'changed'\n"
    access_key = "AKIA" + "Z" * 16
    lines[50] = f"aws_key = '{access_key}'\n"
    (git_repo / "config.py").write_text("".join(lines))
    (git_repo / "keys.txt").write_text("-----BEGIN EC PRIVATE KEY-----\n")
    token = fake("ghp_", 36)
    (git_repo / "notes.md").write_text(f"# Notes\nuse {token}\n")
    (git_repo / "train.py").write_text("print('hi')\n")

    view, stderr = run_script(git_repo / "train.py")
    assert view.git.omitted == [
        OmittedChange(path="config.py", hunk=2, reason="looks like an AWS access key id"),
        OmittedChange(path="keys.txt", reason="looks like a private key"),
        OmittedChange(path="notes.md", reason="looks like a GitHub token"),
    ]
    assert left_out_lines(stderr) == [
        "yanex: git patch leaves out 3 changes: config.py hunk 2 (looks like an AWS access key id), "
        "keys.txt (looks like a private key), notes.md (looks like a GitHub token)"
    ]
    patch = view.git.patch
    assert patch is not None and access_key not in patch and token not in patch and "PRIVATE" not in patch
    clone = applied(git_repo, tmp_path, view.git)
    kept = (clone / "config.py").read_text().splitlines()
    assert kept[4] == "setting_4 = 'changed'" and kept[50] == "setting_50 = 50"
    assert (clone / "keys.txt").read_text() == "no key yet\n" and not (clone / "notes.md").exists()
    assert (clone / "train.py").read_text() == "print('hi')\n"

    shown = runner.invoke(app, ["show", view.id])
    assert "config.py hunk 2 (looks like an AWS access key id)" in shown.stdout
    assert "partial: 3 left out" in shown.stdout
    as_json = json.loads(runner.invoke(app, ["show", view.id, "--format", "json"]).stdout)
    assert as_json["git"]["omitted"][0] == {
        "path": "config.py",
        "hunk": 2,
        "reason": "looks like an AWS access key id",
    }
    only_patch = runner.invoke(app, ["show", view.id, "--patch"])
    assert only_patch.stdout == patch and "this patch is partial" in only_patch.stderr


def test_a_forty_megabyte_untracked_file_is_named_not_stored(git_repo: Path, db: Database) -> None:
    (git_repo / "data").mkdir()
    with (git_repo / "data" / "big.csv").open("w") as handle:
        handle.write("step,loss,accuracy,lr\n" + "1,0.25,0.75,0.001\n" * 2_300_000)  # ~41 MB
    (git_repo / "train.py").write_text("print('hi')\n")

    view, stderr = run_script(git_repo / "train.py")
    assert left_out_lines(stderr) == ["yanex: git patch leaves out 1 change: data/big.csv (over 256 KiB)"]
    assert view.git.omitted == [OmittedChange(path="data/big.csv", reason="over 256 KiB")]
    assert view.git.patch is not None and "+print('hi')" in view.git.patch and "0.25" not in view.git.patch
    assert database_bytes() < 1_000_000

    shown = runner.invoke(app, ["show", view.id])
    assert shown.exit_code == 0 and "left out" in shown.stdout
    assert "data/big.csv (over 256 KiB)" in shown.stdout
    as_json = json.loads(runner.invoke(app, ["show", view.id, "--format", "json"]).stdout)
    assert as_json["git"]["omitted"] == [{"path": "data/big.csv", "hunk": None, "reason": "over 256 KiB"}]


def test_deleting_experiments_gives_their_patch_space_back(git_repo: Path, db: Database) -> None:
    (git_repo / "data.txt").write_text("first\n")
    git(git_repo, "add", "data.txt")
    git(git_repo, "commit", "-q", "-m", "data")
    (git_repo / "data.txt").write_text("".join(f"row {i:08d} of tracked data\n" for i in range(300_000)))
    (git_repo / "train.py").write_text("print('hi')\n")
    first, _ = run_script(git_repo / "train.py")
    second, _ = run_script(git_repo / "train.py")
    assert first.git.patch == second.git.patch and len(first.git.patch or "") > 8_000_000
    with_patch = database_bytes()
    assert with_patch > 8_000_000

    assert runner.invoke(app, ["delete", first.id, "--yes"]).exit_code == 0
    assert get_experiment(db, second.id).git.patch == second.git.patch  # still shared
    assert runner.invoke(app, ["delete", second.id, "--yes"]).exit_code == 0
    with reading(db) as conn:
        assert conn.execute("SELECT count(*) FROM git_patches").fetchone()[0] == 0
    assert database_bytes() < 1_000_000


def test_db_vacuum_shrinks_a_database_made_before_auto_vacuum(yanex_home: Path) -> None:
    yanex_home.mkdir()
    shutil.copyfile(Path(__file__).parent / "data" / "yanex-0002.db", yanex_home / "yanex.db")
    db = Database()
    big = GitInfo(commit="c" * 40, dirty=True, patch="".join(f"+row {i:08d}\n" for i in range(600_000)))
    [experiment_id] = create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"))],
        status=Status.COMPLETED,
        owner=this_process(),
        git=big,
        environment=capture_environment(),
    )
    assert runner.invoke(app, ["delete", experiment_id, "--yes"]).exit_code == 0
    db.dispose()
    before = database_bytes()
    assert before > 7_000_000  # an old database keeps the space until vacuumed

    result = runner.invoke(app, ["db", "vacuum"])
    assert result.exit_code == 0, result.output
    after = database_bytes()
    assert after < 1_000_000
    assert f"{before:,} -> {after:,} bytes ({before - after:,} bytes freed)" in result.stdout
    conn = sqlite3.connect(yanex_home / "yanex.db")
    assert conn.execute("PRAGMA auto_vacuum").fetchone() == (2,)  # deletes give space back from now on
    conn.close()


def test_db_vacuum_waits_for_running_experiments(db: Database) -> None:
    create_experiments(
        db,
        [ExperimentSpec(script_path=Path("train.py"))],
        status=Status.QUEUED,
        owner=this_process(),
        git=GitInfo(),
        environment=capture_environment(),
    )
    result = runner.invoke(app, ["db", "vacuum"])
    assert result.exit_code == 2
    assert "Error: 1 experiment(s) are queued or running" in result.stderr
    assert "Hint: vacuum when they have finished" in result.stderr


def test_commit_message_author_remotes_and_whether_the_commit_is_on_a_remote(
    git_repo: Path, tmp_path: Path
) -> None:
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True)
    git(git_repo, "remote", "add", "origin", str(origin))
    git(git_repo, "remote", "add", "mirror", "https://alice:s3cret-token@example.com/team/x.git")
    git(git_repo, "commit", "-q", "--allow-empty", "-m", "Tune the optimiser", "-m", "Longer body.")

    info = capture_git(git_repo)
    assert info.commit_message == "Tune the optimiser\n\nLonger body."
    assert (info.author_name, info.author_email) == ("Test", "test@example.com")
    assert info.remotes == {"origin": str(origin), "mirror": "https://example.com/team/x.git"}
    assert info.commit_on_remote is False

    git(git_repo, "push", "-q", "origin", "main")  # a local bare repository: no network
    assert capture_git(git_repo).commit_on_remote is True
    git(git_repo, "commit", "-q", "--allow-empty", "-m", "x" * 5000)
    info = capture_git(git_repo)
    assert info.commit_on_remote is False
    assert info.commit_message is not None and len(info.commit_message) == 4000
    assert info.commit_message.endswith("x…")

    git(git_repo, "commit", "-q", "--allow-empty", "-m", "Second\n\nwith a body")
    git(git_repo, "push", "-q", "origin", "main")
    (git_repo / "train.py").write_text("print('hi')\n")
    view, _ = run_script(git_repo / "train.py")
    assert view.git.remotes["mirror"] == "https://example.com/team/x.git"
    shown = runner.invoke(app, ["show", view.id]).stdout
    assert "message      Second\n" in shown and "with a body" not in shown
    assert "author       Test <test@example.com>" in shown
    assert "on a remote  true" in shown
    assert f"remotes      origin  {origin}\n" in shown and "mirror  https://example.com/team/x.git" in shown
    assert "s3cret" not in shown


@pytest.mark.parametrize(
    ("url", "stripped"),
    [
        ("https://user:token@github.com/team/x.git", "https://github.com/team/x.git"),
        ("https://ghp_abc@github.com/team/x.git", "https://github.com/team/x.git"),
        ("http://u:p@host:8080/x.git?private_token=abc", "http://host:8080/x.git"),
        ("ssh://git:pw@host/x.git", "ssh://git@host/x.git"),
        ("ssh://git@host/x.git", "ssh://git@host/x.git"),
        ("git@github.com:team/x.git", "git@github.com:team/x.git"),
        ("/srv/git/x.git", "/srv/git/x.git"),
        ("../x", "../x"),
    ],
)
def test_remote_urls_lose_their_credentials(url: str, stripped: str) -> None:
    assert strip_credentials(url) == stripped


def test_a_batch_names_what_it_leaves_out_once(git_repo: Path, yanex_home: Path) -> None:
    (git_repo / ".env").write_text("TOKEN=1\n")
    (git_repo / "train.py").write_text("print('hi')\n")
    script = (
        "import yanex\n"
        f"specs = [yanex.ExperimentSpec({str(git_repo / 'train.py')!r}, {{'i': i}}) for i in range(3)]\n"
        "print([r.status for r in yanex.run_multiple(specs, parallel=2)])\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['completed', 'completed', 'completed']"
    assert left_out_lines(result.stderr) == [
        "yanex: git patch leaves out 1 change: .env (its name looks like a secret file)"
    ]


def test_unusual_untracked_files_apply_as_they_are(git_repo: Path, tmp_path: Path) -> None:
    names = ["with space.txt", "naïve.py", 'quote"d.txt', "tab\there.txt", "no-newline.txt", "empty.txt"]
    for name in names:
        (git_repo / name).write_text(f"{name}\nsecond line\n")
    (git_repo / "no-newline.txt").write_text("last line has no newline")
    (git_repo / "empty.txt").write_text("")
    (git_repo / "crlf.txt").write_bytes(b"one\r\ntwo\r\n")
    (git_repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (git_repo / "run.sh").chmod(0o755)
    (git_repo / "link").symlink_to("README")
    nested = git_repo / "vendor"
    nested.mkdir()
    git(nested, "init", "-q")
    (nested / "lib.py").write_text("x = 1\n")

    info = capture_git(git_repo)
    assert info.omitted == [OmittedChange(path="vendor/", reason="a nested git repository")]
    clone = applied(git_repo, tmp_path, info)
    for name in [*names, "crlf.txt", "run.sh"]:
        assert (clone / name).read_bytes() == (git_repo / name).read_bytes(), name
    assert os.access(clone / "run.sh", os.X_OK)
    assert os.readlink(clone / "link") == "README"


def test_rerun_exact_runs_the_code_each_original_ran(
    git_repo: Path, yanex_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--exact rebuilds the recorded commit plus patch in a worktree; a plain re-run runs today's."""
    script = git_repo / "src" / "train.py"
    script.parent.mkdir()
    data = git_repo / "src" / "data.txt"  # read relative to the working dir, inside the repo

    def write(version: str) -> None:
        script.write_text(f"import yanex\nprint('{version}', open('data.txt').read())\n")
        data.write_text(f"data-{version}")

    write("A")
    monkeypatch.chdir(script.parent)  # the originals' working dir, inside the repository
    git(git_repo, "add", "src")
    git(git_repo, "commit", "-q", "-m", "A")
    commit_a = git(git_repo, "rev-parse", "HEAD").strip()
    clean = runner.invoke(app, ["run", str(script)], catch_exceptions=False)
    write("B")  # uncommitted: recorded as the patch of the next run
    dirty = runner.invoke(app, ["run", str(script)])
    write("C")
    git(git_repo, "commit", "-q", "-am", "C")
    ids = [run_id(r.stderr) for r in (clean, dirty)]

    def output_of(result_line: str) -> str:
        new_id = result_line.split()[0]
        return (config.experiment_dir(full_id(new_id)) / config.STDOUT_FILE).read_text().strip()

    for original, expected in zip(ids, ("A data-A", "B data-B"), strict=True):
        again = runner.invoke(app, ["rerun", original, "--exact"])
        assert again.exit_code == 0, again.output
        assert output_of(again.stdout) == expected
        rerun_view = get_experiment(Database(), again.stdout.split()[0])
        assert rerun_view.git.commit == commit_a  # the rebuilt code is recorded as what it is
        assert rerun_view.git.patch == get_experiment(Database(), original).git.patch
    today = runner.invoke(app, ["rerun", ids[0]])
    assert today.exit_code == 0 and output_of(today.stdout) == "C data-C"
    assert git(git_repo, "worktree", "list").count("\n") == 1  # every worktree removed

    elsewhere = yanex_home.parent / "loose.py"  # no repository: nothing to rebuild from
    elsewhere.write_text("print('x')\n")
    outside = runner.invoke(app, ["run", str(elsewhere)])
    loose_id = run_id(outside.stderr)
    refused = runner.invoke(app, ["rerun", loose_id, "--exact"])
    assert refused.exit_code == 2
    assert f"Error: experiment {loose_id} recorded no git commit" in refused.stderr

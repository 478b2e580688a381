"""`yanex run` of a trivial script against `python` of the same script, and where the difference goes.

No target (issue 2 asks for the figures and an explanation): prints both wall times and their
ratio, outside and inside a git repository, then the biggest imports (`-X importtime`) and the
phases of one run (cProfile).

Run: `make bench` or `python benchmarks/bench_run.py`.
"""

from __future__ import annotations

import os
import pstats
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PYTHON, command_seconds, report_value

REPEAT = 7
TRIVIAL = "import yanex\nyanex.log_metrics({'x': yanex.get_param('x', 1)})\n"
# The phases of `yanex run`, as cProfile names them: (label, file suffix, function name).
PHASES = [
    ("the run command in all (the phases below, its imports)", "yanex/cli/run.py", "run_command"),
    ("reconcile orphans (opens the database)", "yanex/store/reconcile.py", "reconcile_orphans"),
    ("capture git state", "yanex/runner/git.py", "capture_git"),
    ("insert the experiment row", "yanex/store/experiments.py", "create_experiments"),
    ("start the script (write config, spawn)", "yanex/supervisor/launch.py", "start"),
    ("wait for the script, ingest, record outcome", "yanex/supervisor/launch.py", "wait"),
]


def yanex_command() -> list[str]:
    script = Path(PYTHON).with_name("yanex")
    return [str(script)] if script.exists() else [PYTHON, "-m", "yanex"]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def compare(label: str, folder: Path, env: dict[str, str]) -> None:
    script = folder / "trivial.py"
    bare = command_seconds([PYTHON, str(script)], repeat=REPEAT, env=env, cwd=str(folder))
    tracked = command_seconds([*yanex_command(), "run", str(script)], repeat=REPEAT, env=env, cwd=str(folder))
    report_value(f"python trivial.py ({label})", bare, "s")
    report_value(f"yanex run trivial.py ({label})", tracked, "s")
    report_value(f"  ratio; difference ({label})", tracked / bare, f"x; {tracked - bare:.3f} s")


def top_imports(env: dict[str, str], cwd: Path) -> None:
    """Import time of one `yanex run`, summed per top-level package over every module it loads."""
    result = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "yanex", "run", "trivial.py"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    per_package: dict[str, int] = defaultdict(int)
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, _cumulative, name = line.removeprefix("import time:").split("|")
        if own.strip().isdigit():
            per_package[name.strip().split(".")[0]] += int(own)
    total = sum(per_package.values())
    print(f"imports of one `yanex run` (-X importtime, self time per package): {total / 1e6:.3f} s")
    for package, micros in sorted(per_package.items(), key=lambda item: -item[1])[:10]:
        print(f"  {package:<28} {micros / 1e6:7.3f} s")


def phases(env: dict[str, str], cwd: Path, tmp: Path) -> None:
    """Wall time of each phase of one `yanex run` under cProfile (which inflates Python-heavy parts)."""
    profile = tmp / "run.prof"
    subprocess.run(
        [PYTHON, "-m", "cProfile", "-o", str(profile), "-m", "yanex", "run", "trivial.py"],
        env=env,
        cwd=cwd,
        capture_output=True,
        check=True,
    )
    stats = pstats.Stats(str(profile)).stats  # type: ignore[attr-defined]
    cumulative: dict[tuple[str, str], float] = {}
    imports = 0.0
    total = 0.0
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.items():
        cumulative[(filename, function)] = max(ct, cumulative.get((filename, function), 0.0))
        if function == "_find_and_load" and "importlib._bootstrap" in filename:
            imports = max(imports, ct)
        total = max(total, ct)
    print(f"phases of one `yanex run` under cProfile (total {total:.3f} s; all imports {imports:.3f} s):")
    for label, suffix, function in PHASES:
        seconds = max(
            (ct for (f, fn), ct in cumulative.items() if f.endswith(suffix) and fn == function), default=0
        )
        print(f"  {label:<56} {seconds:7.3f} s")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="yanex-bench-") as name:
        tmp = Path(name)
        env = {"YANEX_HOME": str(tmp / "home"), "YANEX_EXPERIMENT_ID": "", "YANEX_EXPERIMENT_DIR": ""}
        full_env = {**os.environ, **env}
        plain = tmp / "plain"
        plain.mkdir()
        (plain / "trivial.py").write_text(TRIVIAL)
        compare("outside git", plain, env)

        repo = tmp / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        git(
            repo,
            "-c",
            "user.email=b@example.com",
            "-c",
            "user.name=bench",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "0",
        )
        (repo / "trivial.py").write_text(TRIVIAL)  # untracked: part of the captured patch
        compare("in a git repo, dirty", repo, env)

        top_imports(full_env, repo)
        phases(full_env, repo, tmp)


if __name__ == "__main__":
    main()

"""A wheel built from the source tree carries the migrations and works when installed for real."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from pathlib import Path
from zipfile import ZipFile

import pytest

from tests.conftest import REPO_ROOT
from yanex.db.schema import known_revisions
from yanex.errors import install_hint


@pytest.mark.slow
def test_wheel_installs_and_creates_its_database(tmp_path: Path) -> None:
    # Build from a copy, so that build/ and *.egg-info never appear in the working tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    for name in ("yanex", "migrations"):
        shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(source)]
    subprocess.run(build, check=True, capture_output=True, timeout=300)
    [wheel] = dist.glob("yanex-*.whl")
    names = set(ZipFile(wheel).namelist())
    for revision in known_revisions():
        assert any(n.startswith(f"yanex/_migrations/versions/{revision}_") for n in names), revision
    assert {"yanex/_migrations/env.py", "yanex/_migrations/script.py.mako", "yanex/py.typed"} <= names
    # Every module of the checkout is in the wheel (a package missing from pyproject's list is not).
    modules = {str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "yanex").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    # The web view's pages and its vendored chart library, with its licence, ship in the wheel.
    shipped = (REPO_ROOT / "yanex/ui/static").rglob("*")
    static = {str(p.relative_to(REPO_ROOT)) for p in shipped if p.is_file()}
    assert static <= names, sorted(static - names)
    assert {"yanex/ui/static/vendor/uplot/LICENSE", "yanex/ui/static/vendor/uplot/uPlot.iife.min.js"} <= names

    # A fresh venv holding only the wheel; its dependencies come from this venv through a .pth
    # line, which (unlike a site dir) does not run this venv's editable-install hook.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = [*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")

    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text(
        "import yanex\nprint(yanex.__file__)\nyanex.log_metrics({'x': yanex.get_param('x')})\n"
    )
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"YANEX_HOME": str(home)}
    result = subprocess.run(
        [venv / "bin" / "yanex", "run", "train.py", "-p", "x=3"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(site), result.stdout  # the script ran the installed yanex
    conn = sqlite3.connect(home / "yanex.db")
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (known_revisions()[-1],)
        ]
        assert conn.execute("SELECT status, config FROM experiments").fetchall() == [
            ("completed", '{"x": 3}')
        ]
        assert conn.execute("SELECT key, value FROM metrics").fetchall() == [("x", 3.0)]
    finally:
        conn.close()


def test_make_demo_installs_only_the_package(tmp_path: Path) -> None:
    """The README's first command must not spend a fresh machine's minutes on the dev tools."""
    plan = subprocess.run(
        ["make", "-n", "demo", f"VENV={tmp_path / 'venv'}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    installs = [line for line in plan.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    assert installs and all("[dev]" not in line for line in installs), plan


# The project called yanex on PyPI is another one: a hint to install or upgrade "yanex" from
# there would install that. Hints name this checkout's extras (``yanex.errors.install_hint``).
_PYPI_YANEX = re.compile(r"pip3?\s+install\s+(?:-U\s+|--upgrade\s+)?[\"']?yanex\b")


def test_no_install_hint_sends_anyone_to_the_pypi_yanex() -> None:
    places = [REPO_ROOT / "README.md", *(REPO_ROOT / "docs").rglob("*.md")]
    for folder in ("yanex", "examples"):
        places += [p for p in (REPO_ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml", ".txt")]
    found = [
        f"{path.relative_to(REPO_ROOT)}: {' '.join(match.group().split())}"
        for path in places
        for match in _PYPI_YANEX.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
    assert install_hint("dask") == (
        "install the extra from your yanex checkout, in its folder: pip install -e '.[dask]'"
    )

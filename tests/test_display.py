"""Values and sizes as people read them: one formatter each (``yanex.display``), and the commands
that show them through it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.ui_support import open_page, run, start, stop
from yanex.cli.app import app
from yanex.display import format_float, format_size

runner = CliRunner()

SCRIPT = """
import yanex
yanex.log_metrics({"loss": 0.5})
"""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1.0"),
        (-2.0, "-2.0"),
        (0.316227766016838, "0.316228"),
        (1e-05, "1e-05"),
        (123456.0, "123456.0"),
        (99999.99, "100000.0"),
        (1234567.0, "1.23457e+06"),
        (float("inf"), "inf"),
        (float("nan"), "nan"),
    ],
)
def test_a_float_keeps_six_digits_and_reads_as_a_float(value: float, text: str) -> None:
    assert format_float(value) == text


def test_a_float_param_shows_as_a_float_in_names_show_and_compare(write_script, yanex_home: Path) -> None:
    script = write_script("train.py", SCRIPT)
    result = runner.invoke(
        app, ["run", str(script), "-p", "lr=list(1.0, 0.316227766016838, 1e-05)", "-p", "epochs=3"]
    )
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["list", "--sort", "name"])  # a shown column: no column added
    assert listed.exit_code == 0, listed.output
    assert [line.split()[1] for line in listed.stdout.splitlines()] == [
        "train-lr0.316228",
        "train-lr1.0",
        "train-lr1e-05",
    ]
    by_lr = runner.invoke(app, ["list", "--sort", "params.lr"])
    assert [line.split()[-1] for line in by_lr.stdout.splitlines()] == ["1e-05", "0.316228", "1.0"]
    shown = runner.invoke(app, ["show", "train-lr1.0"])
    assert shown.exit_code == 0, shown.output
    assert {"lr 1.0", "epochs 3"} <= {" ".join(line.split()) for line in shown.stdout.splitlines()}
    compared = runner.invoke(app, ["compare", "--sort", "lr", "-p", "lr", "-p", "epochs", "-f", "markdown"])
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in compared.stdout.splitlines()[2:]]
    assert [row[3:5] for row in cells] == [["1e-05", "3"], ["0.316228", "3"], ["1.0", "3"]]


@pytest.mark.slow
def test_the_web_view_shows_a_whole_float_param_as_a_float(browser: Any, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    home = tmp_path / "home"
    run(home, tmp_path, "train.py", "-p", "lr=list(1.0, 0.5)", "-p", "epochs=3", "-p", "scale=2.0")
    server = start(home)
    try:
        ones = server.json("/api/runs?name=train-lr1.0")["rows"][0]
        page = open_page(browser, server, f"/experiment/{ones['id']}")
        rows = page.locator("table.kv tr").evaluate_all("rows => rows.map(r => r.innerText.split('\\t'))")
        assert {("lr", "1.0"), ("epochs", "3"), ("scale", "2.0")} <= {tuple(r) for r in rows}
        runs = open_page(browser, server, "/?param=lr&param=epochs&sort=params.lr")
        cells = runs.locator("table.runs tbody tr").evaluate_all(
            "rows => rows.map(r => [...r.cells].slice(-2).map(c => c.innerText))"
        )
        assert cells == [["0.5", "3"], ["1.0", "3"]]
        batch_id = server.json(f"/api/experiment/{ones['id']}")["lineage"]["batch"]["id"]
        batch = open_page(browser, server, f"/batch/{batch_id}?metric=loss&x=lr")
        ticks = batch.locator("svg.heatmap text.tick").all_text_contents()
        assert {"0.5", "1.0"} <= set(ticks)
        for opened in (page, runs, batch):
            opened.close()
    finally:
        stop(server)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (4300, "4.2 KiB"),
        (256 * 1024, "256 KiB"),
        (50 * 2**20 + 1, "50.0 MiB"),
        (3 * 2**30, "3 GiB"),
        (5 * 2**50, "5120 TiB"),
    ],
)
def test_a_size_is_in_the_powers_of_1024_its_unit_names(size: int, text: str) -> None:
    assert format_size(size) == text


def test_every_size_a_command_prints_names_a_binary_unit(write_script, tmp_path: Path) -> None:
    """A listing and a refusal both go through format_size: KiB and MiB, never KB or MB for 1024s."""
    script = write_script("save.py", "import yanex\nyanex.save_artifact('x' * 4300, 'blob.txt')\n")
    assert runner.invoke(app, ["run", str(script), "--name", "saver"]).exit_code == 0
    listed = runner.invoke(app, ["artifacts", "list", "saver"])
    assert listed.exit_code == 0, listed.output
    assert "4.2 KiB" in listed.stdout and "KB" not in listed.stdout
    refused = runner.invoke(app, ["run", str(script), "-p", "blob=" + "x" * (2 * 2**20), "--dry-run"])
    assert refused.exit_code != 0
    assert "is 2.0 MiB as JSON, over the 1 MiB limit" in refused.output, refused.output

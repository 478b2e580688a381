"""Global ids: 128 random bits, shown by their shortest unique prefix of at least 8 digits."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from tests.test_schema import new_experiment
from yanex.cli.app import app
from yanex.db.engine import Database
from yanex.store.ids import new_ids, short_ids, unique_prefix

runner = CliRunner()


def _rename(home: Path, old: str, new: str) -> None:
    """Give an experiment another id, as an import from another store could bring one."""
    conn = sqlite3.connect(home / "yanex.db")
    try:
        conn.execute("UPDATE experiments SET id = ? WHERE id = ?", (new, old))
        conn.execute("UPDATE tags SET experiment_id = ? WHERE experiment_id = ?", (new, old))
        conn.execute("UPDATE params SET experiment_id = ? WHERE experiment_id = ?", (new, old))
        conn.commit()
    finally:
        conn.close()


def test_ids_are_32_hex_digits_and_new_ones_never_share_their_first_8(db: Database) -> None:
    ids = [new_experiment(db, name=f"e{i}") for i in range(3)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    with db.write() as conn:
        drawn = new_ids(conn, "experiments", 100_000)
    assert len({full[:8] for full in drawn} | {full[:8] for full in ids}) == 100_003


def test_a_new_id_is_drawn_again_while_its_prefix_is_taken(db: Database, monkeypatch) -> None:
    from yanex.store import ids

    taken = new_experiment(db)
    draws = iter([taken[:8] + "0" * 24, "1" * 32])
    monkeypatch.setattr(ids, "_random_id", lambda: next(draws))
    with db.write() as conn:
        assert new_ids(conn, "experiments", 1) == ["1" * 32]


def test_shortest_unique_prefix_grows_only_where_ids_share_digits() -> None:
    assert unique_prefix("abcdef0123" + "0" * 22, ["abcdef0123" + "1" * 22]) == "abcdef01230"
    assert unique_prefix("abcdef01" + "0" * 24, ["12345678" + "0" * 24]) == "abcdef01"
    assert unique_prefix("abcdef01" + "0" * 24, []) == "abcdef01"


def test_list_and_show_grow_the_prefix_of_ids_that_share_their_first_digits(
    db: Database, yanex_home: Path
) -> None:
    first, second, alone = (new_experiment(db, name=name) for name in ("first", "second", "alone"))
    twin_a, twin_b = "abcdef0123" + "a" * 22, "abcdef0123" + "b" * 22
    db.dispose()
    _rename(yanex_home, first, twin_a)
    _rename(yanex_home, second, twin_b)

    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0, listed.output
    shown = {line.split()[1]: line.split()[0] for line in listed.stdout.splitlines()}
    assert shown == {"first": "abcdef0123a", "second": "abcdef0123b", "alone": alone[:8]}

    ambiguous = runner.invoke(app, ["show", "abcdef01"])
    assert ambiguous.exit_code != 0 and "Traceback" not in ambiguous.output
    assert "'abcdef01' matches more than one experiment" in ambiguous.stderr
    assert "abcdef0123a  first" in ambiguous.stderr and "abcdef0123b  second" in ambiguous.stderr
    assert "Hint: use a longer id prefix or the full id" in ambiguous.stderr

    shown_b = runner.invoke(app, ["show", "abcdef0123b"])
    assert shown_b.exit_code == 0 and "Experiment abcdef0123b" in shown_b.stdout
    assert f"id           {twin_b}" in shown_b.stdout or twin_b in shown_b.stdout

    # Programs get the full id: JSON, CSV and `yanex get id`.
    records = json.loads(runner.invoke(app, ["list", "--format", "json"]).stdout)
    assert {r["id"] for r in records} == {twin_a, twin_b, alone}
    assert twin_a in runner.invoke(app, ["list", "--format", "csv"]).stdout
    assert runner.invoke(app, ["get", "id", "abcdef0123a"]).stdout.strip() == twin_a


def test_short_ids_of_many_ids_take_one_probe_each(db: Database) -> None:
    ids = [new_experiment(db, name=f"e{i}") for i in range(5)]
    with db.write() as conn:
        assert short_ids(conn, ids) == {full: full[:8] for full in ids}
        assert short_ids(conn, []) == {}


def test_batch_filter_takes_the_batch_id_as_shown(write_script, yanex_home: Path) -> None:
    import yanex

    script = write_script("s.py", "import yanex\nyanex.log_metrics({'x': 1})\n")
    [result] = yanex.run_multiple([yanex.ExperimentSpec(script_path=script, name="in-batch")])
    [found] = yanex.find([result.experiment_id])
    assert found.batch_id is not None and len(found.batch_id) == 32
    listed = runner.invoke(app, ["list", "--batch", found.batch_id[:8]])
    assert [line.split()[1] for line in listed.stdout.splitlines()] == ["in-batch"]
    assert (
        runner.invoke(app, ["list", "--batch", "0" * 8 if found.batch_id[0] != "0" else "f" * 8]).stdout == ""
    )

"""yanex.find and yanex.compare_frame: the CLI's filters from Python."""

from __future__ import annotations

from pathlib import Path

import pandas
import pytest

import yanex
from tests.query_fixtures import populate
from yanex.db.engine import Database
from yanex.errors import NotFoundError, UsageError


@pytest.fixture
def ids(db: Database, tmp_path: Path) -> dict[str, str]:
    return populate(db, tmp_path)


def test_find_takes_the_cli_filters(ids: dict[str, str]) -> None:
    found = yanex.find(tags="grid-search", status="completed", where="metrics.accuracy > 0.9")
    assert [e.name for e in found] == ["grid-lr0_1-bs32", "grid-lr0_1-bs16"]
    assert all(isinstance(e, yanex.ExperimentView) for e in found)
    best = yanex.find(tags=["grid-search"], sort="metrics.accuracy", desc=True, limit=1)
    assert best[0].id == ids["grid-lr0_1-bs32"]
    assert [e.id for e in yanex.find(["baseline", ids["live"][:8]])] == [ids["live"], ids["baseline"]]
    assert len(yanex.find(started_after="1 hour ago")) == 8
    assert yanex.find(name="grid-*", status=["failed"])[0].error_message == "ValueError: diverged"


def test_find_errors_are_yanex_errors(ids: dict[str, str]) -> None:
    with pytest.raises(UsageError, match="position 5"):
        yanex.find(where="lr >")
    with pytest.raises(UsageError, match="unknown status"):
        yanex.find(status="finished")
    with pytest.raises(NotFoundError):
        yanex.find(["no-such-run"])


def test_find_on_another_database(tmp_path: Path, ids: dict[str, str]) -> None:
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    populate(other, tmp_path)
    other.dispose()
    assert len(yanex.find(database_url=f"sqlite:///{tmp_path / 'other.db'}", tags="eval")) == 1


def test_compare_frame(ids: dict[str, str]) -> None:
    frame = yanex.compare_frame(
        tags="grid-search", status=["completed", "failed"], sort="metrics.accuracy", desc=True
    )
    assert isinstance(frame, pandas.DataFrame)
    assert frame.index.name == "id" and frame.index[0] == ids["grid-lr0_1-bs32"]
    assert list(frame.columns) == [
        "name",
        "status",
        "params.batch_size",
        "params.learning_rate",
        "params.optimizer",
        "metrics.accuracy",
        "metrics.loss",
    ]
    assert frame["metrics.accuracy"].idxmax() == ids["grid-lr0_1-bs32"]
    assert frame.loc[ids["grid-lr0_01-bs16"], "status"] == "failed"
    chosen = yanex.compare_frame(tags="grid-search", params=["learning_rate"], metrics=["accuracy"])
    assert list(chosen.columns) == ["name", "status", "params.learning_rate", "metrics.accuracy"]
    assert pandas.isna(chosen.loc[ids["live"], "metrics.accuracy"])

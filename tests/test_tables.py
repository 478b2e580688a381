"""One declaration of the tables (``yanex.store.tables``), held equal to the SQLAlchemy models that
alembic migrates, to docs/schema.md, and to the pydantic view ``yanex.find`` returns."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text

from tests.conftest import REPO_ROOT
from yanex.db.models import Base
from yanex.specs import ExperimentView
from yanex.store.columns import Table
from yanex.store.tables import EXPERIMENTS, ExperimentRecord, tables

DECLARED = {table.name: table for table in tables()}
DOC = (REPO_ROOT / "docs" / "schema.md").read_text()
# The kinds a model's column type may be declared as (JSON kept as text is JSON to a reader).
KINDS = {
    JSON: {"JSON"},
    Text: {"text", "JSON"},
    String: {"text"},
    Integer: {"integer"},
    Float: {"real"},
    Boolean: {"boolean"},
    DateTime: {"timestamp"},
}


def test_every_table_is_declared_once() -> None:
    assert len(DECLARED) == len(tables())
    assert set(DECLARED) == set(Base.metadata.tables)


@pytest.mark.parametrize("name", sorted(Base.metadata.tables))
def test_declared_columns_are_the_models_columns(name: str) -> None:
    """A column added to the models (and so to a migration) but not to the declaration fails
    here, and so does one declared but never migrated."""
    model = Base.metadata.tables[name]
    declared = DECLARED[name].columns
    assert len(declared) == len(model.columns), (
        f"{name}: {len(declared)} declared, {len(model.columns)} in models"
    )
    assert {c.name for c in declared} == {c.name for c in model.columns}
    for column in declared:
        modelled = model.columns[column.name]
        kinds = next(kinds for kind, kinds in KINDS.items() if isinstance(modelled.type, kind))
        assert column.kind in kinds, (
            f"{name}.{column.name}: {column.kind} declared, {modelled.type} in models"
        )
        # An INTEGER PRIMARY KEY is the rowid: None in a new row, which the table numbers.
        numbered = modelled.primary_key and column.kind == "integer"
        assert column.nullable == modelled.nullable or numbered, f"{name}.{column.name}: nullable differs"


@pytest.mark.parametrize("name", sorted(Base.metadata.tables))
def test_docs_give_each_column_its_declared_kind(name: str) -> None:
    section = DOC.split(f"### `{name}`", 1)[1].split("\n### ", 1)[0]
    documented = dict(re.findall(r"^\| `(\w+)` \| (\w+) \|", section, flags=re.MULTILINE))
    assert documented == {c.name: c.kind for c in DECLARED[name].columns}


def test_the_view_has_exactly_the_records_fields() -> None:
    """``ExperimentView`` refuses a field it lacks, so a column added to the record is an error
    in every ``yanex.find``, never a field that silently disappears."""
    assert list(ExperimentView.model_fields) == [f.name for f in dataclasses.fields(ExperimentRecord)]
    for item in dataclasses.fields(ExperimentRecord):
        if dataclasses.is_dataclass(item.type):
            assert ExperimentView.model_fields[item.name].annotation is item.type


def test_a_field_the_view_lacks_is_refused_not_dropped() -> None:
    from pydantic import ValidationError

    record = {f.name: None for f in dataclasses.fields(ExperimentRecord)}
    with pytest.raises(ValidationError, match="new_column"):
        ExperimentView.model_validate({**record, "new_column": 1})


def test_experiments_are_a_record_and_the_columns_only_the_store_keeps() -> None:
    record, bookkeeping = EXPERIMENTS.shapes
    assert {c.name for c in bookkeeping.columns} == {
        "local_id",
        "spec_sha256",
        "git_patch_sha256",
        "environment_sha256",
        "owner_host",
        "owner_pid",
        "heartbeat_at",
        "metrics_offset",
    }
    assert ("git", "commit") in {c.path for c in record.columns}  # git_commit is record.git.commit
    assert EXPERIMENTS.insert().count("?") == len(EXPERIMENTS.columns)


def test_a_record_is_written_and_read_back_through_its_declaration() -> None:
    from datetime import UTC, datetime

    from yanex.specs import Status
    from yanex.store.tables import EnvironmentInfo, GitInfo, OmittedChange

    shape = Table("experiments", ExperimentRecord).shapes[0]
    git = GitInfo(
        commit="c" * 40, remotes={"origin": "https://x/y.git"}, omitted=[OmittedChange(".env", "secret")]
    )
    record = ExperimentRecord(
        id="0123abcd" * 4,
        name=None,
        description="d",
        status=Status.RUNNING,
        script_path="/t.py",
        working_dir=None,
        script_args=["--x"],
        config={"a": {"b": [1, 2]}},
        tags=["t"],
        created_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        started_at=None,
        ended_at=None,
        duration=None,
        exit_code=None,
        error_message=None,
        batch_id=None,
        retry_of=None,
        archived=False,
        pid=None,
        imported_at=datetime(2026, 2, 3, 4, 5, 6, 7, tzinfo=UTC),
        total_steps=500,
        imported_from="mlflow:0f1e2d3c4b5a69788796a5b4c3d2e1f0",
        git=git,
        environment=EnvironmentInfo(hostname="h"),
    )
    row = shape.encode(record)
    assert row[shape.columns.index(next(c for c in shape.columns if c.name == "git_remotes"))] == (
        '{"origin": "https://x/y.git"}'
    )
    assert shape.decode(row, {"tags": ["t"], "git.patch": None}) == record
    empty = shape.encode(dataclasses.replace(record, git=GitInfo()))
    assert empty[[c.name for c in shape.columns].index("git_patch_omitted")] is None  # [] is stored as NULL

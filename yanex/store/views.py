"""The Python API's side of the read path: records as the pydantic views ``yanex.find`` returns."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import TYPE_CHECKING

from yanex.errors import NotFoundError
from yanex.store.records import load_records

if TYPE_CHECKING:
    from yanex.specs import ExperimentView
    from yanex.store.tables import ExperimentRecord


def view(record: ExperimentRecord) -> ExperimentView:
    """The pydantic view of a record (which refuses a field it does not declare)."""
    from yanex.specs import ExperimentView

    return ExperimentView.model_validate(dataclasses.asdict(record))


def experiment_view(conn: sqlite3.Connection, experiment_id: str) -> ExperimentView:
    """One experiment by its full id, as ``yanex.find`` returns it."""
    records = load_records(conn, [experiment_id])
    if not records:
        raise NotFoundError(f"no experiment with id {experiment_id}", hint="see `yanex list` for ids")
    return view(records[0])

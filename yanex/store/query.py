"""The Python API's view of the read path: the same filters and reads, returned as pydantic views.

Filters are declared and compiled in ``yanex.store.filters``, rows are read in
``yanex.store.reads`` and references resolved in ``yanex.store.references``; the names below are
re-exported from there so that analysis code has one module to import.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from yanex.store.filters import SORT_COLUMNS as SORT_COLUMNS
from yanex.store.filters import ExperimentFilter as ExperimentFilter
from yanex.store.filters import compile_filter as compile_filter
from yanex.store.reads import CompareRow as CompareRow
from yanex.store.reads import Comparison as Comparison
from yanex.store.reads import ExperimentDetail as ExperimentDetail
from yanex.store.reads import ExperimentRecord, find_records
from yanex.store.reads import MetricSummary as MetricSummary
from yanex.store.reads import chunks as chunks
from yanex.store.reads import compare as compare
from yanex.store.reads import experiment_detail as experiment_detail
from yanex.store.reads import find_ids as find_ids
from yanex.store.reads import latest_metrics as latest_metrics
from yanex.store.references import resolve_reference as resolve_reference
from yanex.store.references import resolve_references as resolve_references

if TYPE_CHECKING:
    from yanex.db.engine import Database
    from yanex.specs import ExperimentView


def view(record: ExperimentRecord) -> ExperimentView:
    """The pydantic view of a record read (the type ``yanex.find`` returns)."""
    from yanex.specs import ExperimentView

    return ExperimentView.model_validate(dataclasses.asdict(record))


def find_experiments(db: Database, flt: ExperimentFilter) -> list[ExperimentView]:
    """The matching experiments as frozen views, in the filter's order."""
    return [view(record) for record in find_records(db, flt)]

"""Experiment statuses, standard library only: the read path and the CLI use them without pydantic."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Status(StrEnum):
    CREATED = "created"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Stopped by a sweep's early stopping (``yanex run --prune``): fell behind the sweep's other
    # runs; neither a failure nor a user's cancel. The reason names the step and the rule.
    PRUNED = "pruned"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.PRUNED})
ACTIVE_STATUSES = frozenset({Status.QUEUED, Status.RUNNING})
# Statuses a row leaves only once, and whose owner answers for it (see ``yanex.store.reconcile``):
# every transition out of them is checked in its UPDATE, so a late writer never overwrites a final
# status.
OPEN_STATUSES = (Status.CREATED.value, Status.QUEUED.value, Status.RUNNING.value)

FinalStatus = Literal["completed", "failed", "cancelled", "pruned"]

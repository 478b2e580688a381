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

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
ACTIVE_STATUSES = frozenset({Status.QUEUED, Status.RUNNING})

FinalStatus = Literal["completed", "failed", "cancelled"]

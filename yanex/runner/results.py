"""``Results``: each spec's final result while a batch runs, in 25 bytes.

A million-point sweep would otherwise hold a million ``ExperimentResult`` objects (about a
gigabyte) until it ends. Names are not kept: the specs give them again, in order, when the results
are listed (except for the few results named otherwise, an earlier experiment taken as a result).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Iterator
from typing import get_args

from yanex.specs import ExperimentResult, FinalStatus

_STATUSES: tuple[FinalStatus, ...] = get_args(FinalStatus)
_ID_BYTES = 16


class Results:
    """By spec index: the id (32 hex digits, as 16 bytes), the status, the duration, and the
    error message of the few that have one."""

    def __init__(self, count: int) -> None:
        self._ids = bytearray(_ID_BYTES * count)
        self._statuses = bytearray(count)  # 0: no result yet, else 1 + the index in _STATUSES
        self._durations = array("d", bytes(8 * count))  # NaN: none
        self._errors: dict[int, str] = {}
        self._names: dict[int, str | None] = {}

    def record(self, index: int, result: ExperimentResult, *, named: bool = False) -> None:
        """``result`` is spec ``index``'s; ``named``: listed with its own name, not the spec's."""
        if named:
            self._names[index] = result.name
        self._ids[index * _ID_BYTES : (index + 1) * _ID_BYTES] = bytes.fromhex(result.experiment_id)
        self._statuses[index] = 1 + _STATUSES.index(result.status)
        self._durations[index] = math.nan if result.duration is None else result.duration
        if result.error_message is None:
            self._errors.pop(index, None)
        else:
            self._errors[index] = result.error_message

    def has(self, index: int) -> bool:
        return self._statuses[index] != 0

    def get(self, index: int, name: str | None) -> ExperimentResult | None:
        """The result of spec ``index`` (named ``name``), or None while it has none."""
        status = self._statuses[index]
        if not status:
            return None
        duration = self._durations[index]
        return ExperimentResult.model_construct(  # validated when it was recorded
            experiment_id=self._ids[index * _ID_BYTES : (index + 1) * _ID_BYTES].hex(),
            status=_STATUSES[status - 1],
            error_message=self._errors.get(index),
            duration=None if math.isnan(duration) else duration,
            name=self._names.get(index, name),
        )

    def listed(self, names: Iterable[str | None]) -> Iterator[ExperimentResult]:
        """The results there are, in spec order; ``names`` gives every spec's name, in order."""
        for index, name in enumerate(names):
            result = self.get(index, name)
            if result is not None:
                yield result

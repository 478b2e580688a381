"""The outcome marker: what the supervisor saw when the script ended, kept beside the journal.

Written (atomically: a temporary file, then rename) right after the script exits and before the
database hears of it. If the supervisor dies in between, whoever reconciles the row records this
outcome rather than "failed": a script that exited 0 was completed whatever happened to yanex.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from yanex import config
from yanex.specs import Status


class OutcomeMarker(NamedTuple):
    status: Status
    exit_code: int | None
    error_message: str | None
    ended_at: datetime  # naive UTC


def write_marker(experiment_id: str, marker: OutcomeMarker) -> None:
    """Best effort: a full disk must not stop the outcome from reaching the database."""
    path = config.experiment_dir(experiment_id) / config.OUTCOME_FILE
    temporary = path.with_suffix(".tmp")
    text = marker_text(marker)
    try:
        # No fsync: it would delay recording every outcome, and a marker lost in a machine crash
        # only means the row is recorded failed, as it was before markers existed.
        temporary.write_text(text, encoding="ascii")
        temporary.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)


def marker_text(marker: OutcomeMarker) -> str:
    """The marker file's content (also written by a cluster worker into its spool)."""
    return json.dumps(
        {
            "status": marker.status.value,
            "exit_code": marker.exit_code,
            "error_message": marker.error_message,
            "ended_at": marker.ended_at.isoformat(),
        },
        ensure_ascii=True,
    )


def read_marker(experiment_id: str) -> OutcomeMarker | None:
    """The marker, or None if there is none (or it cannot be read: then the script's fate is unknown)."""
    return read_marker_file(config.experiment_dir(experiment_id) / config.OUTCOME_FILE)


def read_marker_file(path: Path) -> OutcomeMarker | None:
    """``read_marker`` for a marker file anywhere (a cluster worker's spool)."""
    try:
        data = json.loads(path.read_text(encoding="ascii"))
        status = Status(data["status"])
        exit_code, message = data["exit_code"], data["error_message"]
        if (
            not status.is_final
            or not isinstance(exit_code, int | None)
            or not isinstance(message, str | None)
        ):
            return None
        return OutcomeMarker(status, exit_code, message, datetime.fromisoformat(data["ended_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


__all__ = ["OutcomeMarker", "marker_text", "read_marker", "read_marker_file", "write_marker"]

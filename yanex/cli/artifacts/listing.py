"""``yanex artifacts list ID``: an experiment's artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yanex.cli.render import FORMAT, OutputFormat
from yanex.cli.spec import REFERENCE, Command

if TYPE_CHECKING:
    from yanex.store.tables import ArtifactRecord

HASH_SHOWN = 12  # hex digits of the SHA-256 in a table


def _json(record: ArtifactRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "size": record.size,
        "sha256": record.sha256,
        "media_type": record.media_type,
        "created_at": record.created_at,
    }


def list_command(reference: str, fmt: OutputFormat) -> None:
    """List the artifacts of one experiment: name, size, hash prefix and when it was saved.

    Examples:

      yanex artifacts abc12345

      yanex artifacts grid-lr0_01-bs16 --format json
    """
    from yanex.artifacts.reading import artifacts_of
    from yanex.cli.render import format_time, print_rows
    from yanex.cli.store import store
    from yanex.display import format_size

    found = artifacts_of(reference, store()).artifacts
    rows = [[r.name, format_size(r.size), r.sha256[:HASH_SHOWN], format_time(r.created_at)] for r in found]
    print_rows(fmt, ["name", "size", "sha256", "created"], rows, [_json(r) for r in found])


COMMAND = Command(list_command, (REFERENCE, FORMAT))

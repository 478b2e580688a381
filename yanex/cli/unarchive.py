"""``yanex unarchive``: bring archived experiments back into queries."""

from __future__ import annotations

from yanex.cli.archive import archive_selected
from yanex.cli.spec import REFERENCES, Command, FilterOptions


def unarchive_command(references: list[str] | None, *, filters: FilterOptions) -> None:
    """Bring archived experiments back into list, compare and get.

    Examples:

      yanex unarchive abc12345

      yanex unarchive --tag grid-search
    """
    archive_selected(False, references, filters)


COMMAND = Command(unarchive_command, (REFERENCES,), filters=("select",))

"""The one way a command gets the store.

Every command reads and writes through the ``Database`` returned here, whose transactions
translate storage faults with ``yanex.db.faults`` (the CLI edge translates the rest the same way).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from yanex.db.engine import Database


def store() -> Database:
    """The database the settings name (YANEX_HOME, YANEX_DATABASE_URL)."""
    from yanex.db.engine import Database

    return Database()

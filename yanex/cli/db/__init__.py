"""``yanex db``: where the database lives, upgrading it, checking it, repairing and vacuuming it."""

from __future__ import annotations

from yanex.cli.spec import Group

GROUP = Group(
    "The database: its location, schema upgrades and integrity checks.",
    {
        "path": "yanex.cli.db.path",
        "upgrade": "yanex.cli.db.upgrade",
        "check": "yanex.cli.db.check",
        "vacuum": "yanex.cli.db.vacuum",
        "repair": "yanex.cli.db.repair",
    },
)

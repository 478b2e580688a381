"""``yanex sweep``: finishing sweeps."""

from __future__ import annotations

from yanex.cli.spec import Group

GROUP = Group(
    "Sweeps started by `yanex run -p KEY=EXPR` or yanex.grid/sample/search: resume them, show the best.",
    {"resume": "yanex.cli.sweep.resume", "show": "yanex.cli.sweep.show"},
)

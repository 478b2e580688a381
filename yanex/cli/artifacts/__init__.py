"""``yanex artifacts``: an experiment's artifacts, and a copy of one of them.

``yanex artifacts ID`` is short for ``yanex artifacts list ID``.
"""

from __future__ import annotations

from yanex.cli.spec import Group

GROUP = Group(
    "An experiment's artifacts: `yanex artifacts ID` lists them, `yanex artifacts get ID NAME` "
    "copies one out.",
    {"list": "yanex.cli.artifacts.listing", "get": "yanex.cli.artifacts.get"},
    default="list",
)

"""The code an experiment ran, by the names ``--where``, ``--group-by`` and ``compare -p`` take:
``git.commit`` (a prefix matches, as git prints commits), ``git.dirty`` (uncommitted changes) and
``git.branch``. They are ``experiments`` columns, not parameters; a parameter of one of these
names is still reached as ``params.git.commit``.

The commit condition is a range over the column (``>= '8dda34f' AND < '8dda34fg'``: the same rows
as ``LIKE '8dda34f%'``, and a range the index on ``git_commit`` walks: revision 0016).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from yanex.store.dialect import Binder

_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class GitField:
    name: str  # as typed: git.commit
    column: str  # of experiments
    kind: Literal["commit", "flag", "text"]

    @property
    def values(self) -> str:
        """What its values are, for an error's message."""
        return "true or false" if self.kind == "flag" else "'quoted text'"


GIT_FIELDS = {
    field.name: field
    for field in (
        GitField("git.commit", "git_commit", "commit"),
        GitField("git.dirty", "git_dirty", "flag"),
        GitField("git.branch", "git_branch", "text"),
    )
}


def git_field(name: str) -> GitField | None:
    return GIT_FIELDS.get(name)


def json_column(field: GitField, table: str = "experiments") -> str:
    """The column as JSON text (NULL where nothing was recorded), as ``params.value`` holds a
    parameter: grouped and decoded the same way."""
    column = f"{table}.{field.column}"
    if field.kind == "flag":
        return f"CASE {column} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END"
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE json_quote({column}) END"


def matches(field: GitField, value: str | bool, binder: Binder) -> str:
    """A condition true where ``field`` equals ``value`` (a commit: starts with it), false
    elsewhere and where nothing was recorded: never NULL, so that ``not`` negates it."""
    column = f"experiments.{field.column}"
    if field.kind == "flag":
        test = f"{column} = {binder.bind(1 if value else 0)}"
    elif field.kind == "text":
        test = f"{column} = {binder.bind(value)}"
    else:
        prefix = str(value).lower()
        if not prefix or not set(prefix) <= _HEX:
            return "1 = 0"
        test = f"{column} >= {binder.bind(prefix)} AND {column} < {binder.bind(prefix + 'g')}"
    return f"({column} IS NOT NULL AND {test})"


def recorded(field: GitField) -> str:
    """Where something was recorded for ``field``."""
    return f"experiments.{field.column} IS NOT NULL"

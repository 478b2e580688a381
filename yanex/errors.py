"""One exception tree for everything a user can get wrong.

Each error carries the exit code the CLI should use and a hint naming the fix; the CLI prints
``Error: <message>`` and ``Hint: <hint>`` and never a traceback for these.
"""

from __future__ import annotations


def install_hint(extra: str) -> str:
    """How to add one of yanex's extras: yanex is installed from its source checkout (the ``yanex``
    on PyPI is an unrelated project), so the hint names the checkout's extra as the README does."""
    return f"install the extra from your yanex checkout, in its folder: pip install -e '.[{extra}]'"


def reinstall_hint(*, update: bool = False) -> str:
    """How to get a whole (``update``: a newer) yanex: from the checkout it was installed from."""
    step = "update your yanex checkout (git pull) and reinstall it" if update else "reinstall yanex"
    return f"{step}, in the checkout's folder: pip install -e ."


class YanexError(Exception):
    """Base of every error yanex raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message} ({self.hint})"


class UsageError(YanexError):
    """Bad arguments or input: the user must change the call."""

    exit_code = 2


class ConfigError(UsageError):
    """A spec, config file or parameter cannot be used as given."""


class NotFoundError(YanexError):
    """A reference matched nothing."""


class AmbiguousReferenceError(UsageError):
    """A reference matched more than one experiment."""


class DamagedArtifactError(YanexError):
    """An artifact's stored content is not what was saved: it was changed or cut short outside
    yanex (a hand edit in the blob folder, a disk fault)."""


class DatabaseError(YanexError):
    """The database cannot be used: foreign file, newer schema, a storage fault (full disk, damaged
    file, missing permission). ``yanex.db.faults`` translates SQLite and OS errors into these."""


class NoDatabaseError(DatabaseError, NotFoundError):
    """A read found no database: nothing has been recorded at this location yet (so whatever it
    looked for is not found either)."""


class ReadOnlyDatabaseError(DatabaseError):
    """The database file, its folder or its mount cannot be written."""


class DatabaseBusyError(DatabaseError):
    """Another process holds the write lock past the patience of a write that may be skipped
    (a reader's best-effort reconcile); ordinary writes wait the lock out instead."""


class DatabaseReplacedError(DatabaseError):
    """The database file was deleted or replaced while this process was writing to it."""


class NestedRunError(YanexError):
    """A batch was started from inside a running experiment."""


class YanexWarning(UserWarning):
    """Something a reader should know about what it is shown (the CLI prints it as a note)."""

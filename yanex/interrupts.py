"""Ctrl-C that is never lost: a SIGINT noted before it is raised.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread is. Before a batch (or a
single run) takes signals as events of its own, that may be inside a finalizer or a weakref
callback (SQLAlchemy's, say), where Python prints "Exception ignored in ..." and carries on: the
Ctrl-C is gone, and a sweep of 20,000 points runs to its end. The CLI's handler notes each SIGINT
before raising as Python's does; whoever takes signals over later (``yanex.runner.batch``,
``yanex.runner.single``) takes a noted one as the first Ctrl-C, and the dropped KeyboardInterrupt
is not printed. Imports only ``signal`` and ``sys``: the CLI installs it before importing anything else.
"""

from __future__ import annotations

import signal
import sys

_noted = False


def raise_interrupt(_signum: int, _frame: object) -> None:
    """Python's own SIGINT handling (``signal.default_int_handler``), the signal noted first."""
    global _noted
    _noted = True
    raise KeyboardInterrupt


def install() -> None:
    """Note SIGINTs from now on, in place of Python's default handling (a handler of the
    program's own is left alone), and drop the report of one raised where Python ignores it."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    signal.signal(signal.SIGINT, raise_interrupt)
    report = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if not issubclass(unraisable.exc_type, KeyboardInterrupt):
            report(unraisable)

    sys.unraisablehook = hook


def is_default(handler: object) -> bool:
    """Whether ``handler`` is Python's SIGINT handling, noted or not: nobody else's."""
    return handler is signal.default_int_handler or handler is raise_interrupt


def caused(error: BaseException) -> bool:
    """Whether ``error`` was raised while a KeyboardInterrupt was being handled: a library's
    clean-up failing on the way out (an alembic migration's connection, rolled back), which is
    the Ctrl-C's doing, not a failure to report."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__context__
    return False


def not_interrupted(record: object) -> bool:
    """A logging filter (of ``logging.LogRecord``s: not imported, this module loads with the CLI):
    drop a library's report of the KeyboardInterrupt it re-raises (SQLAlchemy logs "Exception
    closing connection" with the traceback before raising it on)."""
    exc_info = getattr(record, "exc_info", None)
    return not (exc_info and isinstance(exc_info[1], KeyboardInterrupt))


def take() -> bool:
    """Whether a SIGINT came since the last call (or since ``install``)."""
    global _noted
    noted, _noted = _noted, False
    return noted

"""The stop flag of a pruned experiment: the orchestrator writes it, the supervisor and the script
read it (``yanex.should_stop``). A file in the experiment's folder rather than a signal: the
script can poll it for the price of a ``stat()``, and every executor whose supervisor sees the
folder honours it without a channel of its own."""

from __future__ import annotations

from pathlib import Path

from yanex import config


def request_stop(directory: Path, reason: str) -> None:
    """Ask the supervisor of the experiment in ``directory`` to stop it as pruned for ``reason``;
    written through a renamed temporary file, so that a reader never sees half a reason."""
    temporary = directory / (config.PRUNED_FILE + ".tmp")
    temporary.write_text(reason, encoding="utf-8")
    temporary.replace(directory / config.PRUNED_FILE)


def stop_reason(directory: Path) -> str | None:
    """The reason the experiment was pruned, or None if it was not (or the folder is gone)."""
    try:
        return (directory / config.PRUNED_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def listening(directory: Path) -> bool:
    """Whether the script polls ``yanex.should_stop()`` (and so may stop on its own)."""
    return (directory / config.LISTENING_FILE).exists()

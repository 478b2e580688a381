"""The journal line that records an artifact, beside the metric lines of ``metrics.jsonl``.

``{"artifact": {"name": ..., "sha256": ..., "size": ..., "media_type": ...}, "t": ...}``: written
by the script after its blob is published, ingested with the metric lines (in the same
transaction that advances ``experiments.metrics_offset``, so exactly once), and read by
``collect`` from the journal tails not ingested yet.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PREFIX = b'{"artifact":'
_READ = 4 * 1024 * 1024  # journal bytes per read when looking for artifact lines
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ArtifactLine:
    name: str
    sha256: str
    size: int
    media_type: str
    created_at: datetime  # naive UTC, as the database stores times


def encode(name: str, sha256: str, size: int, media_type: str, moment: float) -> bytes:
    entry = {"artifact": {"name": name, "sha256": sha256, "size": size, "media_type": media_type}}
    return (json.dumps({**entry, "t": moment}, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def split(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(metric lines, artifact lines), in journal order each."""
    if not any(line.startswith(PREFIX) for line in lines):
        return lines, []
    return [line for line in lines if not line.startswith(PREFIX)], [
        line for line in lines if line.startswith(PREFIX)
    ]


def parse(lines: list[bytes]) -> tuple[list[ArtifactLine], int]:
    """The artifacts of artifact lines and how many lines could not be read."""
    from yanex.artifacts.names import check_name
    from yanex.errors import UsageError

    found: list[ArtifactLine] = []
    skipped = 0
    for line in lines:
        try:
            whole = json.loads(line)
            entry = whole["artifact"]
            name, sha, size, media = entry["name"], entry["sha256"], entry["size"], entry["media_type"]
            moment = datetime.fromtimestamp(whole["t"], UTC).replace(tzinfo=None)
            if not (_SHA256.fullmatch(sha) and type(size) is int and size >= 0 and isinstance(media, str)):
                raise ValueError(line)
            found.append(ArtifactLine(check_name(name), sha, size, media, moment))
        except (ValueError, TypeError, KeyError, OverflowError, OSError, UsageError):
            skipped += 1
    return found, skipped


def read(journal: Path, offset: int) -> tuple[list[ArtifactLine], int]:
    """The artifacts recorded in ``journal`` past ``offset``, in journal order, and the offset
    after the last complete line (a line being written is read next time)."""
    found: list[ArtifactLine] = []
    try:
        with journal.open("rb") as handle:
            handle.seek(offset)
            rest = b""
            while chunk := handle.read(_READ):
                complete, newline, rest = (rest + chunk).rpartition(b"\n")
                offset += len(complete) + len(newline)
                if PREFIX in complete:
                    found += parse(split(complete.split(b"\n"))[1])[0]
    except OSError:  # no journal (yet): nothing past the offset
        pass
    return found, offset

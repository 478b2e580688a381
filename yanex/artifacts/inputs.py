"""The artifacts of a remote experiment's dependencies, as the worker that runs it has them.

A cluster worker has no database to look other experiments up in. The task brings the records of
the artifacts its dependencies saved (``ParentArtifacts``), their contents are put in the blob
folder of the worker's spool before the script starts (``yanex.executors.remote``), and the
experiment's folder gets ``inputs.json`` listing them, with why any content did not arrive.
``$YANEX_INPUTS`` names that file: a script reads another experiment's artifacts from it, never
from a database. Only its dependencies are there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

from yanex.artifacts import lines
from yanex.artifacts.lines import ArtifactLine
from yanex.errors import AmbiguousReferenceError, NotFoundError

FILE = "inputs.json"  # in the experiment's folder
VIEWS = "inputs"  # in the experiment's folder: inputs/<id>/artifacts/<name>, paths asked for


@dataclass(frozen=True)
class ParentArtifacts:
    """A dependency and the artifacts it saved; ``missing``: why a content (by SHA-256) is not
    where the script reads it, when it is known."""

    experiment_id: str
    name: str | None
    artifacts: tuple[ArtifactLine, ...]
    missing: dict[str, str] = field(default_factory=dict)


def _line(artifact: ArtifactLine) -> str:
    moment = artifact.created_at.replace(tzinfo=UTC).timestamp()
    return lines.encode(artifact.name, artifact.sha256, artifact.size, artifact.media_type, moment).decode()


def write(path: Path, parents: tuple[ParentArtifacts, ...]) -> None:
    """Write the manifest (artifacts as their journal lines, read back by ``lines.parse``)."""
    entries = [
        {
            "id": parent.experiment_id,
            "name": parent.name,
            "artifacts": [_line(artifact) for artifact in parent.artifacts],
            "missing": parent.missing,
        }
        for parent in parents
    ]
    path.write_text(json.dumps({"experiments": entries}, ensure_ascii=False), encoding="utf-8")


def read(path: Path) -> list[ParentArtifacts]:
    entries = json.loads(path.read_text(encoding="utf-8"))["experiments"]
    return [
        ParentArtifacts(
            str(entry["id"]),
            entry["name"],
            tuple(lines.parse([line.encode() for line in entry["artifacts"]])[0]),
            {str(sha): str(why) for sha, why in entry["missing"].items()},
        )
        for entry in entries
    ]


def resolve(path: Path, reference: str, experiment_id: str) -> ParentArtifacts:
    """The dependency ``reference`` names (its id, an id prefix or its name), as
    ``yanex.dependency`` resolves one; ``NotFoundError`` for any other experiment."""
    parents = read(path)
    matches = [p for p in parents if reference in (p.experiment_id, p.name)] or [
        p for p in parents if p.experiment_id.startswith(reference.lower())
    ]
    if len(matches) == 1:
        return matches[0]
    listed = ", ".join(f"{p.experiment_id} ({p.name})" if p.name else p.experiment_id for p in parents)
    if matches:
        raise AmbiguousReferenceError(
            f"{reference!r} names {len(matches)} dependencies of experiment {experiment_id}: {listed}",
            hint="pass the id of the one you want",
        )
    raise NotFoundError(
        f"experiment {reference} is not a dependency of experiment {experiment_id}, which runs on a "
        "cluster worker: there a script reads the artifacts of its dependencies only "
        f"({listed or 'it has none'})",
        hint="add the experiment to the spec's depends_on (or --depends-on), and read it "
        "through yanex.dependency()",
    )


__all__ = ["FILE", "VIEWS", "ParentArtifacts", "read", "resolve", "write"]

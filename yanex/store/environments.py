"""The packages an experiment ran with, stored once per distinct set in ``environments``.

Standard library only: ``yanex show`` reads it without pydantic.

A batch of a thousand experiments on one interpreter shares one row: each experiment keeps only
the row's hash (``experiments.environment_sha256``). The set arrives as one line of the metrics
journal, written by the supervisor in the process that runs the script (see
``yanex.supervisor.packages``), so it reaches the database by whatever path the journal does:
the supervisor's ingest, a reconciler, ``yanex db repair``, a cluster worker's spool.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from yanex.store.dialect import sqlite_value


def normalized(name: str) -> str:
    """A distribution's name as the package index compares them (PEP 503): ``PyYAML`` is ``pyyaml``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Packages:
    """The distributions the script's interpreter could import (name as its metadata spells it,
    to version), and the NVIDIA driver and the CUDA version it supports, where there is one."""

    packages: dict[str, str]
    nvidia_driver: str | None = None
    cuda: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "packages": dict(sorted(self.packages.items())),
            "nvidia_driver": self.nvidia_driver,
            "cuda": self.cuda,
        }

    @property
    def sha256(self) -> str:
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @classmethod
    def from_json(cls, data: Any) -> Packages | None:
        """The set a journal line holds; None if it is not one (never trusted to be well formed)."""
        if type(data) is not dict:
            return None
        packages, driver, cuda = data.get("packages"), data.get("nvidia_driver"), data.get("cuda")
        if type(packages) is not dict or not all(
            type(name) is str and type(version) is str for name, version in packages.items()
        ):
            return None
        if not all(value is None or type(value) is str for value in (driver, cuda)):
            return None
        return cls(packages, driver, cuda)


def record_environment(conn: sqlite3.Connection, experiment_id: str, environment: Packages) -> None:
    """The set (if new) and the experiment's reference to it, in the caller's transaction."""
    sha256 = environment.sha256
    conn.execute(
        "INSERT INTO environments (sha256, packages, nvidia_driver, cuda, created_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
        (
            sha256,
            json.dumps(dict(sorted(environment.packages.items()))),
            environment.nvidia_driver,
            environment.cuda,
            sqlite_value(datetime.now(UTC).replace(tzinfo=None)),  # naive UTC, as every stored time,
        ),
    )
    conn.execute("UPDATE experiments SET environment_sha256 = ? WHERE id = ?", (sha256, experiment_id))


def environment_of(conn: sqlite3.Connection, experiment_id: str) -> Packages | None:
    """The set the experiment ran with; None if none was recorded (before revision 0018, imported
    from another tracker, or its script never started)."""
    row = conn.execute(
        "SELECT v.packages, v.nvidia_driver, v.cuda FROM experiments AS e "
        "JOIN environments AS v ON v.sha256 = e.environment_sha256 WHERE e.id = ?",
        (experiment_id,),
    ).fetchone()
    return None if row is None else Packages(json.loads(row[0]), row[1], row[2])


class PackageDifference(NamedTuple):
    """A distribution whose version is not the same in every set (None: not installed there)."""

    name: str
    versions: list[str | None]


def package_differences(sets: list[Packages]) -> list[PackageDifference]:
    """What differs between the sets, by name as the index compares them (sorted so), then the
    driver and CUDA versions as ``(nvidia driver)`` and ``(cuda)`` when they differ."""
    by_name = [{normalized(name): (name, version) for name, version in s.packages.items()} for s in sets]
    differences = []
    for key in sorted(set().union(*by_name)):
        found = [names.get(key) for names in by_name]
        versions = [entry[1] if entry else None for entry in found]
        if len(set(versions)) > 1:
            name = next(entry[0] for entry in found if entry)
            differences.append(PackageDifference(name, versions))
    for name, versions in (
        ("(nvidia driver)", [s.nvidia_driver for s in sets]),
        ("(cuda)", [s.cuda for s in sets]),
    ):
        if len(set(versions)) > 1:
            differences.append(PackageDifference(name, versions))
    return differences

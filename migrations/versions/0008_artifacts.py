"""``artifacts``: the files each experiment saved, by name, with the blob holding their content.

A new table: no existing table is rebuilt. Rows cascade with their experiment; the index on
``sha256`` answers "is this blob still referenced" when deletes and ``yanex gc`` free blobs.

Before this revision the only way for a script to keep a file was to write it into the folder
``$YANEX_EXPERIMENT_DIR`` named (undocumented). Every such file of an existing experiment becomes
an artifact named by its path in that folder: its content is hard-linked into the blob store
(copied where a link cannot be made) and into the experiment's ``artifacts/`` view, and it stays
where it was too, read-only, taking no more space. yanex's own files there are left alone.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 03:00:00
"""

import hashlib
import os
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from yanex import config

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("experiment_id", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_artifacts_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "name", name=op.f("pk_artifacts")),
    )
    op.create_index(op.f("ix_artifacts_sha256"), "artifacts", ["sha256"], unique=False)
    _adopt_files()


# What yanex itself keeps in an experiment's folder (as of revision 0005), and temp files of it.
_OWN = {"config.json", "config.marshal", "metrics.jsonl", "outcome.json", "stdout.log", "stderr.log"}
_OWN_TEMPS = {"config.json.tmp", "config.marshal.tmp", "outcome.tmp"}


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except FileExistsError:
        return
    except OSError:
        shutil.copyfile(source, target)
    os.chmod(target, 0o444)


def _adopt_files() -> None:
    """Record the files scripts wrote into their experiment folders as artifacts."""
    artifacts = sa.table(
        "artifacts",
        sa.column("experiment_id", sa.String),
        sa.column("name", sa.String),
        sa.column("sha256", sa.String),
        sa.column("size", sa.Integer),
        sa.column("media_type", sa.String),
        sa.column("created_at", sa.DateTime),
    )
    connection = op.get_bind()
    root = config.experiments_root()
    blobs = config.blobs_root()
    rows = []
    for (experiment_id,) in connection.execute(sa.text("SELECT id FROM experiments")):
        folder = root / experiment_id
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            top = name.split("/", 1)[0]
            if not path.is_file() or path.is_symlink() or top in _OWN | _OWN_TEMPS or top == "artifacts":
                continue
            if "\\" in name or not name.isprintable() or not _text(name):  # names artifacts refuse
                continue
            digest = hashlib.sha256()
            with path.open("rb") as handle:
                while chunk := handle.read(8 * 1024 * 1024):
                    digest.update(chunk)
            sha = digest.hexdigest()
            blob = blobs / sha[:2] / sha
            _link_or_copy(path, blob)
            _link_or_copy(blob, folder / "artifacts" / name)
            status = path.stat()
            rows.append(
                {
                    "experiment_id": experiment_id,
                    "name": name,
                    "sha256": sha,
                    "size": status.st_size,
                    "media_type": _media_type(name),
                    "created_at": datetime.fromtimestamp(status.st_mtime, UTC).replace(tzinfo=None),
                }
            )
    if rows:
        op.bulk_insert(artifacts, rows)


def _text(name: str) -> bool:
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def _media_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream"


def downgrade() -> None:
    op.drop_index(op.f("ix_artifacts_sha256"), table_name="artifacts")
    op.drop_table("artifacts")

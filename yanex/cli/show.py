"""``yanex show``: everything known about one experiment."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yanex.cli.render import DETAIL_FORMAT, DetailFormat, echo
from yanex.cli.spec import REFERENCE, Command, Param

if TYPE_CHECKING:
    from yanex.store.detail import BatchInfo, ExperimentDetail, Lineage, Relative
    from yanex.store.tables import ArtifactRecord, GitInfo

TAIL_LINES = 10


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a captured output file; reads only its end, however large it is."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _nested(config: dict[str, Any], depth: int = 0) -> Iterator[tuple[str, str]]:
    from yanex.cli.render import cell
    from yanex.terminal import printable

    for key, value in config.items():
        label = "  " * depth + key
        if isinstance(value, dict) and value:
            yield label, ""
            yield from _nested(value, depth + 1)
        else:
            yield label, printable(cell(value))


def _author(git: GitInfo) -> str:
    email = f"<{git.author_email}>" if git.author_email else ""
    return " ".join(part for part in (git.author_name, email) if part)


def _record(
    detail: ExperimentDetail, stdout: str, stderr: str, artifacts: list[ArtifactRecord]
) -> dict[str, Any]:
    fields = dataclasses.asdict(detail.experiment)
    fields["params"] = fields.pop("config")  # as `get params` and compare call them
    return {
        **fields,
        "rerun_as": detail.rerun_as,
        "parents": [dataclasses.asdict(parent) for parent in detail.parents],
        "children": [dataclasses.asdict(child) for child in detail.children],
        "metrics": {k: m.value for k, m in detail.metrics.items()},
        "metric_steps": {k: {"step": m.step, "count": m.count} for k, m in detail.metrics.items()},
        "git": {**fields["git"], "patch_size": detail.patch_size},
        "output": {"stdout_tail": stdout, "stderr_tail": stderr},
        "artifacts": [
            {"name": a.name, "size": a.size, "sha256": a.sha256, "media_type": a.media_type}
            for a in artifacts
        ],
    }


def _batch_line(batch: BatchInfo, short: str) -> str:
    """``3f2a1b4c (6 experiments, 2 at a time)``: the batch's size and parallelism as recorded, or
    ``(6 experiments, on dask://10.0.0.5:8786)`` for one that ran on a cluster."""
    if batch.executor is not None:
        how = f"on {batch.executor}"
    else:
        how = {None: "one at a time", 0: "one per CPU"}.get(batch.parallel, f"{batch.parallel} at a time")
    return f"{short} ({batch.total} experiment{'s' if batch.total != 1 else ''}, {how})"


def _lineage_line(line: Lineage, short: Callable[[str], str]) -> str:
    """``attempt 3 of 1a2b3c4d`` for a batch's retry; ``re-run of 5e6f7a8b`` (and the attempt
    when the chain is longer) for ``yanex rerun``."""
    attempt = f"attempt {line.attempt} of {short(line.root)}"
    if not line.rerun:
        return attempt
    return f"re-run of {short(line.parent)}" + (f" ({attempt})" if line.parent != line.root else "")


def _named_ids(detail: ExperimentDetail) -> list[str]:
    """Every experiment id ``show`` prints for ``detail``."""
    e, lineage = detail.experiment, detail.lineage
    return [
        e.id,
        *([e.retry_of] if e.retry_of else []),
        *detail.rerun_as,
        *([lineage.root, lineage.parent] if lineage else []),
        *(relative.id for relative in [*detail.parents, *detail.children]),
    ]


def _relative_line(relative: Relative, short: Callable[[str], str]) -> str:
    """``1a2b3c4d  train  completed``: enough to pick the experiment to show next."""
    return "  ".join([short(relative.id), relative.name or "-", relative.status])


SPARK_WIDTH = 24  # most blocks in a sparkline of `show --metrics`
SPARK_MIN_WIDTH = 6  # fewer would not show a shape: the trend column is left out instead


def _peak_memory(detail: ExperimentDetail) -> str:
    """The largest ``system/memory_mb`` sample, as a size (empty without samples)."""
    from yanex import config
    from yanex.display import format_size

    memory = detail.metrics.get(f"{config.SYSTEM_METRICS_PREFIX}memory_mb")
    if memory is None or memory.max is None:
        return ""
    return f"{format_size(int(memory.max * 1024 * 1024))} (largest system/memory_mb sample)"


def _packages(reference: str, fmt: DetailFormat) -> None:
    """``--env``: the installed packages the experiment ran with, one per line, sorted by name."""
    from yanex.cli.render import print_json, print_table
    from yanex.cli.store import store
    from yanex.errors import NotFoundError
    from yanex.store.environments import environment_of, normalized
    from yanex.store.ids import shown
    from yanex.store.reading import reading
    from yanex.store.references import resolve_reference

    with reading(store()) as conn:
        experiment_id = resolve_reference(conn, reference)
        packages = environment_of(conn, experiment_id)
    if packages is None:
        raise NotFoundError(
            f"experiment {shown(experiment_id)} has no recorded packages",
            hint="they are recorded when yanex starts a script (since schema revision 0018); "
            "imported and older experiments have none",
        )
    if fmt is DetailFormat.JSON:
        print_json(packages.as_json())
        return
    rows = [
        [name, version] for name, version in sorted(packages.packages.items(), key=lambda p: normalized(p[0]))
    ]
    rows += [
        [name, value]
        for name, value in (("(nvidia driver)", packages.nvidia_driver), ("(cuda)", packages.cuda))
        if value
    ]
    print_table(["package", "version"], rows)


def _metrics(reference: str, fmt: DetailFormat) -> None:
    """``--metrics``: each metric's count, last value, min, max, first and last step, one query;
    a sparkline of its trend on a terminal, as wide as the terminal leaves room for."""
    from yanex.cli.render import cell, pretty, print_json, print_table
    from yanex.cli.store import store
    from yanex.errors import NotFoundError
    from yanex.plotting.sparkline import sparkline
    from yanex.store.history import metric_stats, trends
    from yanex.store.reading import reading
    from yanex.store.references import resolve_reference

    # The first and last step logged, not a range: steps 0, 10 and 99 are three points.
    columns = ["metric", "count", "last", "min", "max", "first step", "last step"]
    with reading(store()) as conn:
        experiment_id = resolve_reference(conn, reference)
        stats = metric_stats(conn, experiment_id)
        rows = [
            [
                s.key,
                str(s.count),
                cell(s.last),
                cell(s.minimum),
                cell(s.maximum),
                str(s.first_step),
                str(s.last_step),
            ]
            for s in stats
        ]
        spark_width = _spark_width(columns, rows) if fmt is DetailFormat.TABLE and pretty() else 0
        shapes = trends(conn, experiment_id, spark_width) if spark_width else {}
    if not stats:
        raise NotFoundError(
            f"experiment {experiment_id} has logged no metrics", hint=f"see `yanex show {experiment_id}`"
        )
    if fmt is DetailFormat.JSON:
        print_json(
            {
                s.key: {
                    "count": s.count,
                    "last": s.last,
                    "min": s.minimum,
                    "max": s.maximum,
                    "first_step": s.first_step,
                    "last_step": s.last_step,
                }
                for s in stats
            }
        )
        return
    if spark_width:
        columns.append("trend")
        for s, row in zip(stats, rows, strict=True):
            row.append(sparkline(shapes.get(s.key, [])))
    print_table(columns, rows)


def _spark_width(columns: list[str], rows: list[list[str]]) -> int:
    """Blocks of sparkline that fit beside the other columns in the terminal (0: none), so that
    long metric names or wide numbers never fold a row."""
    import shutil

    used = sum(max(map(len, column)) + 2 for column in zip(columns, *rows, strict=True))
    room = min(SPARK_WIDTH, shutil.get_terminal_size().columns - used)
    return room if room >= SPARK_MIN_WIDTH else 0


def _progress_line(detail: ExperimentDetail) -> str:
    """``42% (step 419 of 1000), 3m05s left``, for a script that declared its total steps."""
    from datetime import UTC, datetime

    from yanex.cli.watch import time_left
    from yanex.store.history import completion

    e = detail.experiment
    if e.total_steps is None:
        return ""
    step = max((m.step for m in detail.metrics.values()), default=None)
    done = completion(step, e.total_steps, e.started_at, e.ended_at, datetime.now(UTC))
    if done is None:
        return f"no step yet of {e.total_steps}"
    part, left = done
    return f"{part:.0%} (step {step} of {e.total_steps})" + (
        "" if left is None else f", {time_left(left)} left"
    )


def show_command(
    reference: str, fmt: DetailFormat, patch: bool, only_metrics: bool = False, env: bool = False
) -> None:
    """Show one experiment: status, times, error, script, params, metrics, git, environment, output.

    Exits 1 if nothing matches ID, 2 if ID matches several experiments (they are listed).

    Examples:

      yanex show abc12345

      yanex show abc1 --format json

      yanex show grid-lr0_01-bs16

      yanex show abc12345 --patch > changes.patch

      yanex show abc12345 --metrics

      yanex show abc12345 --env
    """
    from yanex import config
    from yanex.artifacts.reading import records
    from yanex.cli.render import (
        cell,
        format_duration,
        format_time,
        patch_text,
        print_json,
        print_sections,
    )
    from yanex.cli.store import store
    from yanex.display import format_size
    from yanex.errors import NotFoundError
    from yanex.store.detail import experiment_detail
    from yanex.store.environments import environment_of
    from yanex.store.ids import short_ids
    from yanex.store.reading import reading
    from yanex.terminal import printable, tag_list

    if only_metrics:
        _metrics(reference, fmt)
        return
    if env:
        _packages(reference, fmt)
        return
    with reading(store()) as conn:
        detail = experiment_detail(conn, reference)
        packages = environment_of(conn, detail.experiment.id)
        artifacts = records(conn, detail.experiment.id)
        shown = short_ids(conn, _named_ids(detail))
        batch = detail.batch
        batch_line = _batch_line(batch, short_ids(conn, [batch.id], "batches")[batch.id]) if batch else ""
    e = detail.experiment

    def short(full: str) -> str:
        return shown.get(full, full)

    left_out = printable("; ".join(str(change) for change in e.git.omitted))
    if patch:
        if not e.git.patch:
            raise NotFoundError(
                f"experiment {e.id} has no git patch: "
                + (
                    f"every change was left out: {left_out}"
                    if left_out
                    else "its working tree was clean or not in git"
                )
            )
        echo(patch_text(e.git.patch), nl=not e.git.patch.endswith("\n"))
        if left_out:
            echo(f"yanex: this patch is partial, it leaves out: {left_out}", err=True)
        return
    folder = config.experiment_dir(e.id)
    stdout, stderr = _tail(folder / config.STDOUT_FILE), _tail(folder / config.STDERR_FILE)
    if fmt is DetailFormat.JSON:
        print_json(_record(detail, stdout, stderr, artifacts))
        return

    def present(*items: tuple[str, str | list[str]]) -> list[tuple[str, str]]:
        """The given items, each value one line or a list of lines, every line escaped."""
        return [
            (label, printable(value) if isinstance(value, str) else "\n".join(map(printable, value)))
            for label, value in items
            if value
        ]

    metrics = [
        (key, printable(f"{cell(m.value)}  (step {m.step}, {m.count} value{'s' if m.count != 1 else ''})"))
        for key, m in detail.metrics.items()
    ]
    patch_line = f"{detail.patch_size} bytes (yanex show {short(e.id)} --patch)" if detail.patch_size else ""
    if patch_line and e.git.omitted:
        patch_line += f", partial: {len(e.git.omitted)} left out"
    print_sections(
        [
            (
                f"Experiment {short(e.id)}",
                present(("id", e.id), ("name", e.name or ""), ("status", e.status.value))
                + ([("description", e.description)] if e.description else [])  # may have several lines
                + present(
                    ("tags", tag_list(e.tags)),
                    ("batch", batch_line),
                    ("retry of", short(e.retry_of) if e.retry_of else ""),
                    ("re-run as", ", ".join(map(short, detail.rerun_as))),
                    ("lineage", _lineage_line(detail.lineage, short) if detail.lineage else ""),
                    ("depends on", [_relative_line(parent, short) for parent in detail.parents]),
                    ("needed by", [_relative_line(child, short) for child in detail.children]),
                    ("archived", "yes" if e.archived else ""),
                    ("imported", format_time(e.imported_at) if e.imported_at else ""),
                    ("imported from", e.imported_from or ""),
                ),
            ),
            (
                "Times",
                present(
                    ("created", format_time(e.created_at)),
                    ("started", format_time(e.started_at)),
                    ("ended", format_time(e.ended_at)),
                    ("duration", format_duration(e.duration)),
                    ("progress", _progress_line(detail)),
                ),
            ),
            (
                "Script",
                present(
                    ("path", e.script_path),
                    ("args", " ".join(e.script_args)),
                    ("working dir", e.working_dir or ""),
                    ("exit code", cell(e.exit_code)),
                    ("error", e.error_message or ""),
                ),
            ),
            ("Params", list(_nested(e.config))),
            ("Metrics (last value)", metrics),
            (
                "Git",
                present(
                    ("commit", e.git.commit or ""),
                    ("branch", e.git.branch or ""),
                    ("message", (e.git.commit_message or "").partition("\n")[0]),
                    ("author", _author(e.git)),
                    ("on a remote", cell(e.git.commit_on_remote)),
                    ("remotes", [f"{name}  {url}" for name, url in e.git.remotes.items()]),
                    ("dirty", cell(e.git.dirty)),
                    ("patch", patch_line),
                    ("left out", [str(change) for change in e.git.omitted]),
                    (
                        "submodules",
                        [f"{sub.path}  {sub.commit or '(not checked out)'}" for sub in e.git.submodules],
                    ),
                ),
            ),
            (
                "Environment",
                present(
                    ("python", e.environment.python_version or ""),
                    ("platform", e.environment.platform or ""),
                    ("host", e.environment.hostname or ""),
                    ("yanex", e.environment.yanex_version or ""),
                    ("nvidia driver", packages.nvidia_driver or "" if packages else ""),
                    ("cuda", packages.cuda or "" if packages else ""),
                    (
                        "packages",
                        f"{len(packages.packages)} (yanex show {short(e.id)} --env)" if packages else "",
                    ),
                    ("peak memory", _peak_memory(detail)),
                ),
            ),
            (
                f"Artifacts (yanex artifacts {short(e.id)})",
                [(printable(a.name), f"{format_size(a.size)}  {a.sha256[:12]}") for a in artifacts],
            ),
            (f"Output (last {TAIL_LINES} lines of stdout)", [("stdout", stdout)] if stdout else []),
            (f"Errors (last {TAIL_LINES} lines of stderr)", [("stderr", stderr)] if stderr else []),
        ]
    )


COMMAND = Command(
    show_command,
    (
        REFERENCE,
        DETAIL_FORMAT,
        Param("patch", ("--patch",), bool, False, "Print only the git patch of uncommitted changes."),
        Param(
            "only_metrics",
            ("--metrics",),
            bool,
            False,
            "Only the metrics: count, last value, min, max, first and last step (and a sparkline on a "
            "terminal).",
        ),
        Param(
            "env",
            ("--env",),
            bool,
            False,
            "Only the environment: the installed Python packages and versions the script ran with, "
            "the NVIDIA driver and CUDA versions.",
        ),
    ),
)

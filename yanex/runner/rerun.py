"""``rerun``: stored experiments run again from their recorded specs, as one ``Batch``.

The originals' script, config, args, name, tags, metric goals and dependencies make the specs;
``yanex.runner.exact`` rebuilds the code an original ran for ``exact=True``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yanex.db.engine import Database
from yanex.errors import ConfigError
from yanex.params import deep_merge
from yanex.runner.batch import Batch, preflight
from yanex.runner.dependencies import Plan, completed_parents
from yanex.runner.exact import exact_code
from yanex.specs import ExperimentResult, ExperimentSpec, parse_time_limit
from yanex.store.dependencies import Parent, parents_of
from yanex.store.ids import shown
from yanex.store.reading import reading
from yanex.store.reconcile import reconcile_orphans
from yanex.store.references import resolve_references
from yanex.store.summary import declared_goals
from yanex.store.views import experiment_view


def rerun(
    ids_or_results: Sequence[str | ExperimentResult],
    parallel: int | None = None,
    verbose: bool = False,
    *,
    timeout: float | str | None = None,
    config_overrides: Mapping[str, Any] | None = None,
    executor: object = "local",
    exact: bool = False,
) -> list[ExperimentResult]:
    """Run stored experiments again from their recorded specs (script, config, args, name, tags).

    Each new experiment is linked to the one it re-runs (``retry_of``) and runs in the original's
    working directory. Accepts ids or ``ExperimentResult`` objects, e.g. the failed results of a
    ``run_multiple`` call; results come back in the same order. ``timeout`` limits each re-run
    as in ``run_multiple``. ``config_overrides`` (a nested mapping, e.g. ``{"model": {"lr": 0.1}}``)
    is merged over each original's config: sections key by key, anything else replaced.

    A re-run runs today's code: when the current commit or uncommitted changes differ from what an
    original ran, one ``yanex.errors.YanexWarning`` says so before anything runs. With ``exact``
    it runs the code the original ran instead: its recorded commit, submodules and patch, in a
    temporary git worktree of its repository (``yanex.runner.exact``), removed afterwards.

    A re-run declares the original's metric goals again (``metric_goals``). It keeps the
    original's dependencies: the same parents, except a parent re-run by the
    same call, which the re-run of its child then waits for as in a pipeline. A parent that has
    not completed (and is not re-run alongside) is refused with ``ConfigError``.
    """
    preflight(parallel)
    time_limit = None if timeout is None else parse_time_limit(timeout)
    if isinstance(ids_or_results, str | ExperimentResult) or not isinstance(ids_or_results, Sequence):
        raise TypeError("rerun expects a list of experiment ids or ExperimentResult objects")
    ids = [item.experiment_id if isinstance(item, ExperimentResult) else item for item in ids_or_results]
    if not ids:
        raise ValueError("rerun needs at least one experiment; the list is empty")
    db = Database()
    reconcile_orphans(db)
    with reading(db, settle=False) as conn:
        ids = resolve_references(conn, [str(reference) for reference in ids])
        originals = [experiment_view(conn, experiment_id) for experiment_id in ids]
        goals = [declared_goals(conn, original.id) for original in originals]
        recorded = parents_of(conn, ids)
    for original in originals:
        if not original.status.is_final:
            raise ConfigError(
                f"experiment {original.id} is still {original.status.value}",
                hint="re-run it once it has finished, or cancel its batch first",
            )
    if config_overrides is not None and not isinstance(config_overrides, Mapping):
        raise TypeError(f"config_overrides must be a mapping, got {type(config_overrides).__name__}")
    overrides = dict(config_overrides or {})
    with exact_code(originals) if exact else contextlib.nullcontext(None) as rebuilt:
        scripts = (
            [code.script_path for code in rebuilt] if rebuilt else [Path(o.script_path) for o in originals]
        )
        working_dirs = [
            (rebuilt[index].working_dir if rebuilt else None) or original.working_dir
            for index, original in enumerate(originals)
        ]
        specs = [
            ExperimentSpec(
                script_path=script,
                config=deep_merge(dict(original.config), overrides),
                script_args=original.script_args,
                name=original.name,
                tags=original.tags,
                description=original.description,
                goals=declared,
            )
            for original, declared, script in zip(originals, goals, scripts, strict=True)
        ]
        batch = Batch(
            specs,
            parallel,
            verbose,
            db=db,
            time_limit=time_limit,
            dependencies=_rerun_plan(db, ids, recorded),
            executor=executor,
            retry_of=[original.id for original in originals],
            working_dirs=working_dirs,
            # An exact re-run runs what the original ran: nothing to warn about.
            ran_before=[] if exact else [original.git for original in originals],
        )
        return list(batch.run())


def _rerun_plan(db: Database, ids: Sequence[str], recorded: Mapping[str, Sequence[Parent]]) -> Plan:
    """The originals' recorded parents: a parent re-run by this call is waited for in the batch."""
    position = {experiment_id: index for index, experiment_id in enumerate(ids)}
    in_batch: dict[int, list[int]] = {}
    completed: list[list[Parent]] = []
    for index, parents in enumerate(recorded[experiment_id] for experiment_id in ids):
        in_batch[index] = [position[parent.id] for parent in parents if parent.id in position]
        stored = [parent.id for parent in parents if parent.id not in position]
        try:
            completed.append(completed_parents(db, stored) if stored else [])
        except ConfigError as error:
            raise ConfigError(
                f"cannot re-run {shown(ids[index])}: its {error.message}",
                hint=f"re-run it in the same call as its dependency ({', '.join(map(shown, stored))})",
            ) from None
    return Plan(in_batch, completed)

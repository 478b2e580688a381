"""Pipelines inside one batch: which spec waits for which, and who is cancelled when one fails.

``plan`` resolves every spec's ``depends_on`` before any row is written: a name of another spec of
the same call is an in-batch dependency (it wins over a stored experiment of that name); anything
else must name one completed stored experiment. Cycles, self-dependencies, names that match several
specs and names that match nothing are refused there. ``Schedule`` then follows the batch: a spec
is submitted once every in-batch parent has completed (its final try, after retries), and every
spec downstream of a failed or cancelled one is cancelled, naming the dependency that failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, overload

from yanex.db.engine import Database
from yanex.errors import AmbiguousReferenceError, ConfigError, NotFoundError, YanexError
from yanex.specs import ExperimentResult, ExperimentSpec, Status
from yanex.store.dependencies import Parent
from yanex.store.ids import short_ids
from yanex.store.reading import reading
from yanex.store.references import resolve_references

T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """Each spec's parents: indices of specs of the same call (only of the specs that have some),
    and completed stored experiments."""

    in_batch: Mapping[int, Sequence[int]]
    stored: Sequence[Sequence[Parent]]

    @classmethod
    def empty(cls, count: int) -> Plan:
        return cls.shared(count, ())

    @classmethod
    def shared(cls, count: int, stored: Sequence[Parent]) -> Plan:
        """Every spec runs on the same stored experiments, none on another spec (a sweep's points):
        the same size for a million specs as for one."""
        return cls({}, _Repeated(tuple(stored), count))


class _Repeated(Sequence[T]):
    """``count`` times the same item."""

    def __init__(self, item: T, count: int) -> None:
        self._item, self._count = item, count

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[T]: ...

    def __getitem__(self, index: int | slice) -> T | Sequence[T]:
        if isinstance(index, slice):
            return [self._item] * len(range(*index.indices(self._count)))
        if not -self._count <= index < self._count:
            raise IndexError(index)
        return self._item


def completed_parents(db: Database, references: Sequence[str]) -> list[Parent]:
    """The stored experiments ``references`` name (id, unique id prefix or name), in order.

    Raises ``NotFoundError`` or ``AmbiguousReferenceError`` for a reference that names no one
    experiment (a name several experiments have names the one completed among them), and
    ``ConfigError`` for one that has not completed: nothing may run on the outputs of an
    experiment that is still running, or that failed. With nothing recorded yet, no
    reference can match, and the error says so (rather than that there is no database yet).
    """
    if not db.exists():
        raise NotFoundError(
            f"dependency: no experiment matches {references[0]!r} (by id, id prefix or name)",
            hint="nothing has been recorded yet",
        )
    with reading(db) as conn:
        try:
            ids = resolve_references(conn, references, qualifying=[Status.COMPLETED])
        except YanexError as error:
            raise type(error)(f"dependency: {error.message}", hint=error.hint) from None
        parents: list[Parent] = []
        for reference, experiment_id in zip(references, ids, strict=True):
            name, status = conn.execute(
                "SELECT name, status FROM experiments WHERE id = ?", (experiment_id,)
            ).fetchone()
            if status != Status.COMPLETED.value:
                [short] = short_ids(conn, [experiment_id]).values()
                shown = short if reference == experiment_id else f"{reference!r} ({short})"
                raise ConfigError(
                    f"dependency {shown} is {status}, not completed",
                    hint="depend on a completed experiment, or run this one once it has completed",
                )
            if experiment_id not in {parent.id for parent in parents}:
                parents.append(Parent(experiment_id, name))
    return parents


def _label(specs: Sequence[ExperimentSpec], index: int) -> str:
    return f"experiment {index} ({specs[index].name or 'unnamed'})"


def plan(db: Database, specs: Sequence[ExperimentSpec]) -> Plan:
    """Resolve and check every spec's ``depends_on``; raises before anything is written."""
    by_name: dict[str, list[int]] = {}
    for index, spec in enumerate(specs):
        if spec.name is not None:
            by_name.setdefault(spec.name, []).append(index)
    in_batch: dict[int, list[int]] = {}
    stored: list[list[Parent]] = [[] for _ in specs]
    outside: list[list[str]] = [[] for _ in specs]
    for index, spec in enumerate(specs):
        for reference in spec.depends_on:
            matches = by_name.get(reference, [])
            if len(matches) > 1:
                raise AmbiguousReferenceError(
                    f"{_label(specs, index)} depends on {reference!r}, the name of "
                    f"{len(matches)} specs of this call (experiments {', '.join(map(str, matches))})",
                    hint="give the specs distinct names, or depend on a stored experiment by id",
                )
            if matches == [index]:
                raise ConfigError(
                    f"{_label(specs, index)} depends on itself", hint="remove its own name from depends_on"
                )
            if matches:
                in_batch.setdefault(index, []).append(matches[0])
            else:
                outside[index].append(reference)
    cycle = find_cycle([in_batch.get(index, ()) for index in range(len(specs))])
    if cycle is not None:
        path = " -> ".join(repr(specs[i].name) for i in [*cycle, cycle[0]])
        raise ConfigError(
            f"the specs' dependencies form a cycle: {path}",
            hint="a pipeline runs in one direction; remove one of these depends_on entries",
        )
    for index, references in enumerate(outside):
        if not references:
            continue
        try:
            stored[index] = completed_parents(db, references)
        except NotFoundError as error:
            raise NotFoundError(
                f"{_label(specs, index)}: {error.message}; no spec of this call has that name either",
                hint="depend on the name of another spec of the call, or on a stored experiment's "
                "id, id prefix or name",
            ) from None
    return Plan(in_batch, stored)


def find_cycle(parents: Sequence[Sequence[int]]) -> list[int] | None:
    """One cycle of the graph (``parents[i]``: what ``i`` waits for), as a path, or None."""
    state = [0] * len(parents)  # 0: unvisited, 1: on the current path, 2: done
    for start in range(len(parents)):
        if state[start]:
            continue
        path: list[int] = []
        stack: list[tuple[int, int]] = [(start, 0)]
        while stack:
            node, position = stack.pop()
            if position == 0:
                state[node] = 1
                path.append(node)
            if position < len(parents[node]):
                stack.append((node, position + 1))
                parent = parents[node][position]
                if state[parent] == 1:
                    return path[path.index(parent) :]
                if state[parent] == 0:
                    stack.append((parent, 0))
            else:
                state[node] = 2
                path.pop()
    return None


@dataclass
class Schedule:
    """The state of a batch's in-batch dependencies while it runs, by spec index."""

    specs: Sequence[ExperimentSpec]
    plan: Plan
    waiting: dict[int, set[int]] = field(init=False)  # spec -> in-batch parents not completed yet
    children: dict[int, list[int]] = field(init=False)
    finished_as: dict[int, str] = field(default_factory=dict)  # completed spec -> its final id

    def __post_init__(self) -> None:
        self.waiting = {i: set(parents) for i, parents in self.plan.in_batch.items() if parents}
        self.children = {}
        for child, parents in self.plan.in_batch.items():
            for parent in parents:
                self.children.setdefault(parent, []).append(child)

    def blocked(self, index: int) -> bool:
        return index in self.waiting

    def parents(self, index: int) -> list[Parent]:
        """What the script of ``index`` runs on; every in-batch parent has completed by now."""
        parents = self.plan.in_batch.get(index, ())
        in_batch = [Parent(self.finished_as[p], self.specs[p].name) for p in parents]
        return [*self.plan.stored[index], *in_batch]

    def downstream(self, roots: set[int]) -> set[int]:
        """``roots`` and every spec that depends on one of them, directly or not."""
        found, frontier = set(roots), list(roots)
        while frontier:
            for child in self.children.get(frontier.pop(), []):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
        return found

    def waiting_children(self, index: int) -> list[int]:
        return [child for child in self.children.get(index, []) if child in self.waiting]

    def finished(self, index: int, result: ExperimentResult) -> tuple[list[int], list[tuple[int, str]]]:
        """Record the final result of ``index``: the specs now free to start, and the specs that
        never will, each with its error message (every spec downstream of a failure). A spec
        skipped as completed before (``skip_completed``) waits for nothing."""
        self.waiting.pop(index, None)
        if result.status == "completed":
            self.finished_as[index] = result.experiment_id
            ready = []
            for child in self.waiting_children(index):
                self.waiting[child].discard(index)
                if not self.waiting[child]:
                    del self.waiting[child]
                    ready.append(child)
            return ready, []
        children = self.waiting_children(index)
        if not children:  # a sweep's points: the specs are not held, and none waits
            return [], []
        verb = "failed" if result.status == "failed" else "was cancelled"
        what = f"dependency {self.specs[index].name or result.experiment_id!r} {verb}"
        doomed: list[tuple[int, str]] = []
        frontier = [(child, what) for child in children]
        while frontier:
            child, message = frontier.pop(0)
            if self.waiting.pop(child, None) is None:
                continue  # reached by two paths
            doomed.append((child, message))
            via = f"{what} (via {self.specs[child].name or f'experiment {child}'!r})"
            frontier.extend((grandchild, via) for grandchild in self.waiting_children(child))
        return [], doomed

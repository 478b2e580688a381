"""The one filter layer: every filter, order, reference and comparison, against a known population."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import yanex_cli
from tests.query_fixtures import PATCH, populate, set_times
from yanex.api import find
from yanex.db.engine import Database
from yanex.errors import AmbiguousReferenceError, NotFoundError, UsageError
from yanex.specs import Status
from yanex.store.compare import compare
from yanex.store.detail import experiment_detail
from yanex.store.filters import ExperimentFilter
from yanex.store.manage import set_archived
from yanex.store.reading import reading
from yanex.store.records import find_records
from yanex.store.references import resolve_reference, resolve_references
from yanex.store.selection import select_ids
from yanex.store.times import parse_time
from yanex.store.views import view


@pytest.fixture
def ids(db: Database, tmp_path: Path) -> dict[str, str]:
    return populate(db, tmp_path)


def names(db: Database, **filters: object) -> list[str]:
    with reading(db) as conn:
        return [e.name or "" for e in find_records(conn, ExperimentFilter(**filters))]


def test_default_order_is_newest_first_then_insertion_order(db: Database, ids: dict[str, str]) -> None:
    assert names(db) == [
        "live",
        "baseline",
        "grid-lr0_1-bs32",
        "grid-lr0_1-bs16",
        "grid-lr0_01-bs32",
        "grid-lr0_01-bs16",
        "grid-lr0_001-bs32",
        "grid-lr0_001-bs16",
    ]


def test_statuses_and_tags(db: Database, ids: dict[str, str]) -> None:
    assert names(db, statuses=["failed"]) == ["grid-lr0_01-bs16"]
    assert names(db, statuses=["running", "failed"]) == ["live", "grid-lr0_01-bs16"]
    assert len(names(db, tags=["grid-search"])) == 7
    assert names(db, tags=["baseline", "eval"]) == ["baseline"]  # every tag must match
    assert names(db, tags=["baseline", "grid-search"]) == []
    assert names(db, tags=["nope"]) == []


def test_a_status_with_a_tag_ids_or_batch_starts_from_their_rows(db: Database, ids: dict[str, str]) -> None:
    """A status holds for most experiments (80,000 of 100,000 completed): with a tag, ids or a batch
    the query must start from their few rows, not walk the status index (compare --group-by over
    a 1,000-run tag took 270 ms at 100,000 experiments, 75 ms at one); alone, it walks it."""
    from yanex.store.filters import compile_filter

    def plan(flt: ExperimentFilter) -> str:
        sql = compile_filter(flt)
        with reading(db) as conn:
            rows = conn.execute(f"EXPLAIN QUERY PLAN {sql.text}", sql.sqlite_params()).fetchall()
        return " | ".join(row[3] for row in rows)

    completed = (Status.COMPLETED,)
    for narrower in (
        {"tags": ("grid-search",)},
        {"ids": (ids["baseline"],)},
        {"batch": "0"},
    ):
        flt = ExperimentFilter(statuses=completed, latest_attempts=True, **narrower)
        assert "ix_experiments_status" not in plan(flt), (narrower, plan(flt))
    assert "USING INDEX ix_experiments_status_created_at" in plan(ExperimentFilter(statuses=completed))
    completed_names = set(names(db, statuses=["completed"]))
    assert names(db, statuses=["completed"], tags=["grid-search"]) == [
        name for name in names(db, tags=["grid-search"]) if name in completed_names
    ]


def test_unknown_status_lists_the_valid_ones() -> None:
    with pytest.raises(UsageError) as caught:
        ExperimentFilter(statuses=["done"])
    assert "done" in caught.value.message
    assert (
        caught.value.hint is not None
        and "completed" in caught.value.hint
        and "cancelled" in caught.value.hint
    )


def test_name_glob_script_and_batch(db: Database, ids: dict[str, str], tmp_path: Path) -> None:
    assert names(db, name="grid-lr0_1-*") == ["grid-lr0_1-bs32", "grid-lr0_1-bs16"]
    assert names(db, name="GRID-*") == []  # case-sensitive, like the shell
    assert names(db, script="eval.py") == ["baseline"]
    assert names(db, script=str(tmp_path / "eval.py")) == ["baseline"]
    assert names(db, script="val.py") == []  # a file name, not a substring
    assert names(db, script="%.py") == []  # LIKE wildcards are escaped
    assert names(db, batch="deadbeef") == []


def test_time_filters(db: Database, ids: dict[str, str]) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    set_times(db, ids["baseline"], started_at=now - timedelta(days=3), ended_at=now - timedelta(days=3))
    recent = names(db, started_after="1 day ago")
    assert "baseline" not in recent and "grid-lr0_1-bs32" in recent
    assert names(db, started_before="2 days ago") == ["baseline"]
    assert names(db, ended_before=now.replace(tzinfo=UTC) - timedelta(days=2)) == ["baseline"]
    assert "live" not in names(db, ended_after="1 week ago")  # never ended
    iso = (now - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    assert len(names(db, started_after=iso)) == 8  # every experiment has started


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is New York's (UTC-5 in January), so local and UTC readings differ."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_naive_datetimes_are_local_time_like_strings(
    db: Database, ids: dict[str, str], new_york: None
) -> None:
    set_times(db, ids["baseline"], started_at=datetime(2026, 1, 1, 17, 0))  # 12:00 in New York
    naive = names(db, started_after=datetime(2026, 1, 1, 13, 0))  # 18:00 UTC: after baseline started
    assert "baseline" not in naive and len(naive) == 7
    assert naive == names(db, started_after="2026-01-01T13:00")
    assert [e.name for e in find(started_after=datetime(2026, 1, 1, 13, 0))] == naive  # the Python API
    assert naive == names(db, started_after=datetime(2026, 1, 1, 18, 0, tzinfo=UTC))
    assert "baseline" in names(db, started_after=datetime(2026, 1, 1, 11, 0))  # 16:00 UTC


def test_ambiguous_reference_lists_local_times(
    db: Database, ids: dict[str, str], tmp_path: Path, new_york: None
) -> None:
    populate(db, tmp_path)
    set_times(db, ids["baseline"], created_at=datetime(2026, 1, 1, 17, 0, 5))
    with pytest.raises(AmbiguousReferenceError) as caught, reading(db) as conn:
        resolve_reference(conn, "baseline")
    assert f"{ids['baseline'][:8]}  baseline  completed  2026-01-01 12:00:05" in caught.value.message


def test_where_and_other_filters_combine(db: Database, ids: dict[str, str]) -> None:
    assert names(db, tags=["grid-search"], statuses=["completed"], where="metrics.accuracy > 0.5") == [
        "grid-lr0_1-bs32",
        "grid-lr0_1-bs16",
        "grid-lr0_01-bs32",
        "grid-lr0_001-bs32",
        "grid-lr0_001-bs16",
    ]


def test_archived_hidden_unless_asked(db: Database, ids: dict[str, str]) -> None:
    set_archived(db, [ids["baseline"]], True)
    assert "baseline" not in names(db)
    assert names(db, archived="only") == ["baseline"]
    assert len(names(db, archived="include")) == 8


def test_sort_by_metric_param_and_column(db: Database, ids: dict[str, str]) -> None:
    best = names(
        db, tags=["grid-search"], statuses=["completed"], sort="metrics.accuracy", desc=True, limit=1
    )
    assert best == ["grid-lr0_1-bs32"]
    worst_first = names(db, tags=["grid-search"], sort="metrics.accuracy")
    assert worst_first[0] == "grid-lr0_001-bs16" and worst_first[-1] == "live"  # no metric: last
    assert names(db, sort="params.learning_rate", desc=True, limit=2) == ["live", "grid-lr0_1-bs32"]
    assert names(db, sort="name", limit=2) == ["baseline", "grid-lr0_001-bs16"]
    with pytest.raises(UsageError, match="cannot sort by 'accuracy'"):
        ExperimentFilter(sort="accuracy")
    with pytest.raises(UsageError, match="at least 1"):
        ExperimentFilter(limit=0)


def test_ids_filter_and_views(db: Database, ids: dict[str, str]) -> None:
    wanted = [ids["baseline"], ids["grid-lr0_1-bs16"]]
    with reading(db) as conn:
        views = [view(record) for record in find_records(conn, ExperimentFilter(ids=wanted))]
        assert select_ids(conn, ExperimentFilter(ids=[])) == []
    assert [v.id for v in views] == [ids["baseline"], ids["grid-lr0_1-bs16"]]
    baseline = views[0]
    assert baseline.tags == ["baseline", "eval"]
    assert baseline.config == {"model": {"depth": 12, "name": "resnet"}, "augment": True, "seed": 7}
    assert baseline.status is Status.COMPLETED and baseline.git.branch == "dev" and baseline.git.patch is None
    assert views[1].git.patch == PATCH


def test_references(db: Database, ids: dict[str, str]) -> None:
    target = ids["baseline"]
    prefixes = {i[:n] for i in ids.values() for n in (1, 2, 3)}
    unique = next(p for p in sorted(prefixes, key=len) if sum(i.startswith(p) for i in ids.values()) == 1)
    with reading(db) as conn:
        assert resolve_reference(conn, target) == target
        assert resolve_reference(conn, "baseline") == target
        assert resolve_reference(conn, unique) == next(i for i in ids.values() if i.startswith(unique))
        assert resolve_references(conn, ["baseline", "live"]) == [target, ids["live"]]
        with pytest.raises(NotFoundError, match="no experiment matches 'nothing-here'"):
            resolve_reference(conn, "nothing-here")


def test_ambiguous_reference_lists_candidates(db: Database, ids: dict[str, str], tmp_path: Path) -> None:
    again = populate(db, tmp_path)  # a second grid with the same names
    with pytest.raises(AmbiguousReferenceError) as caught, reading(db) as conn:
        resolve_reference(conn, "baseline")
    assert caught.value.exit_code == 2
    assert ids["baseline"][:8] in caught.value.message and again["baseline"][:8] in caught.value.message


def test_detail_has_metric_summaries_and_patch_size(db: Database, ids: dict[str, str]) -> None:
    with reading(db) as conn:
        detail = experiment_detail(conn, "grid-lr0_1-bs32")
        other = experiment_detail(conn, "baseline")
    assert detail.metrics["accuracy"].value == pytest.approx(0.95)
    assert detail.metrics["accuracy"].count == 3 and detail.metrics["accuracy"].step == 2
    assert detail.patch_size == len(PATCH)
    assert other.patch_size is None
    assert other.metrics["phase"].value == "done" and other.metrics["converged"].value is True


def test_compare_shows_differing_params_and_all_metrics(db: Database, ids: dict[str, str]) -> None:
    with reading(db) as conn:
        result = compare(conn, ExperimentFilter(tags=["grid-search"], statuses=["completed", "failed"]))
        same_lr = compare(conn, ExperimentFilter(name="grid-lr0_1-*"))
        one = compare(conn, ExperimentFilter(ids=[ids["baseline"]]))
        chosen = compare(
            conn, ExperimentFilter(tags=["grid-search"]), params=["learning_rate"], metrics=["loss"]
        )
    assert result.params == ["batch_size", "learning_rate", "optimizer"]
    assert result.metrics == ["accuracy", "loss"]
    first = result.rows[0]
    assert first.name == "grid-lr0_1-bs32"
    assert first.params == {"batch_size": 32, "learning_rate": 0.1, "optimizer": "sgd"}
    assert first.metrics["accuracy"] == pytest.approx(0.95)
    assert same_lr.params == ["batch_size", "optimizer"]  # learning_rate is equal, so hidden
    assert one.params == ["augment", "model.depth", "model.name", "seed"]  # a single row shows all
    assert chosen.params == ["learning_rate"] and chosen.metrics == ["loss"]
    assert chosen.rows[0].name == "live" and chosen.rows[0].metrics == {}


@pytest.mark.parametrize(
    ("phrase", "delta"),
    [
        ("now", timedelta(0)),
        ("2 hours ago", timedelta(hours=2)),
        ("3 days ago", timedelta(days=3)),
        ("1 week ago", timedelta(weeks=1)),
        ("an hour ago", timedelta(hours=1)),
        ("45 mins ago", timedelta(minutes=45)),
        ("45 m ago", timedelta(minutes=45)),
        ("3 hrs ago", timedelta(hours=3)),
        ("2d ago", timedelta(days=2)),
        ("1 year ago", timedelta(days=365)),
        ("  10   Seconds   AGO ", timedelta(seconds=10)),
    ],
)
def test_relative_time_phrases(phrase: str, delta: timedelta) -> None:
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    assert parse_time(phrase, now=now) == (now - delta).replace(tzinfo=None)


def test_today_yesterday_and_iso(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    now = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
    assert parse_time("today", now=now) == datetime(2026, 3, 10)
    assert parse_time("yesterday", now=now) == datetime(2026, 3, 9)
    assert parse_time("2026-03-01") == datetime(2026, 3, 1)
    assert parse_time("2026-03-01T08:15") == datetime(2026, 3, 1, 8, 15)
    assert parse_time("2026-03-01 08:15:00+02:00") == datetime(2026, 3, 1, 6, 15)
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert parse_time("2026-03-01T09:00") == datetime(2026, 3, 1, 0, 0)  # local time, stored UTC
        assert parse_time("today", now=now) == datetime(2026, 3, 10, 15, 0)  # Tokyo's midnight
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    "bad",
    [
        "soon",
        "2 fortnights ago",
        "2026-13-01",
        "ago",
        "",
        "3 ms ago",
        "2 hs ago",
        "1000000 years ago",
        "99999999999 days ago",
        "99999999999999999999999 seconds ago",
    ],
)
def test_unreadable_times_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_time(bad)
    assert caught.value.hint is not None and "2 hours ago" in caught.value.hint


def test_unknown_unit_and_too_far_back_are_named() -> None:
    with pytest.raises(UsageError, match="unknown time unit 'ms'"):
        parse_time("3 ms ago")  # not 3 minutes
    with pytest.raises(UsageError, match="further back than any time"):
        parse_time("1000000 years ago")


def test_out_of_range_time_is_a_clean_cli_error(ids: dict[str, str]) -> None:
    result = yanex_cli("list", "--started-after", "1000000 years ago")
    assert result.returncode == 2, result.stderr
    assert (
        result.stderr.startswith("Error: '1000000 years ago' is further back")
        and "Traceback" not in result.stderr
    )

"""Pipelines: experiments that depend on others, recorded in ``dependencies`` and ordered in a batch.

Every experiment is a real subprocess; the CLI runs as a real ``yanex`` process or through Typer's
runner; ordering is checked on the times the database recorded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import yanex
from tests.conftest import REPO_ROOT, wait_until, yanex_cli
from yanex.cli.app import app
from yanex.errors import AmbiguousReferenceError, ConfigError, NotFoundError

# Prints what the run API says about its dependencies; sleeps, fails or fails once on request.
# ``started`` names a file it writes as it starts; ``after`` one it waits for (up to a minute) first.
STEP = """
import json, pathlib, time, yanex
if yanex.get_param("started"):
    pathlib.Path(yanex.get_param("started")).touch()
deadline = time.monotonic() + 60
while yanex.get_param("after") and not pathlib.Path(yanex.get_param("after")).exists():
    if time.monotonic() > deadline:
        break
    time.sleep(0.02)
time.sleep(yanex.get_param("sleep", 0))
deps = yanex.dependencies()
print(json.dumps({"dependencies": deps, "dependency": yanex.dependency() if len(deps) == 1 else None}))
counter = yanex.get_param("fail_once")
if counter and not pathlib.Path(counter).exists():
    pathlib.Path(counter).touch()
    raise RuntimeError("first try fails")
if yanex.get_param("fail"):
    raise ValueError("broken on purpose")
"""


def printed(home: Path, experiment_id: str) -> dict[str, object]:
    """What the STEP script of an experiment printed about its dependencies."""
    loaded: dict[str, object] = json.loads((home / "experiments" / experiment_id / "stdout.log").read_text())
    return loaded


def query(home: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "yanex.db") as conn:
        return conn.execute(sql, args).fetchall()


def edges(home: Path) -> set[tuple[object, ...]]:
    return set(query(home, "SELECT experiment_id, depends_on_id FROM dependencies"))


def times(home: Path, experiment_id: str) -> tuple[datetime, datetime]:
    [(started, ended)] = query(
        home, "SELECT started_at, ended_at FROM experiments WHERE id = ?", experiment_id
    )
    assert isinstance(started, str) and isinstance(ended, str)
    return datetime.fromisoformat(started), datetime.fromisoformat(ended)


def counts(home: Path) -> tuple[object, ...]:
    [row] = query(
        home,
        "SELECT (SELECT count(*) FROM experiments), (SELECT count(*) FROM batches), "
        "(SELECT count(*) FROM dependencies)",
    )
    return row


@pytest.fixture
def step(write_script) -> Path:
    path: Path = write_script("step.py", STEP)
    return path


def spec(script: Path, name: str | None, *depends_on: str, **config: object) -> yanex.ExperimentSpec:
    return yanex.ExperimentSpec(script_path=script, config=config, name=name, depends_on=depends_on)


def test_a_spec_depending_on_a_stored_experiment_records_it_and_hands_its_id_to_the_script(step, yanex_home):
    [train] = yanex.run_multiple([spec(step, "train")])
    [by_name, by_prefix] = yanex.run_multiple(
        [spec(step, "eval-a", "train"), spec(step, "eval-b", train.experiment_id[:5])]
    )
    assert by_name.status == by_prefix.status == "completed"
    assert edges(yanex_home) == {
        (by_name.experiment_id, train.experiment_id),
        (by_prefix.experiment_id, train.experiment_id),
    }
    for child in (by_name, by_prefix):
        assert printed(yanex_home, child.experiment_id) == {
            "dependencies": {"train": train.experiment_id},
            "dependency": train.experiment_id,
        }
    assert printed(yanex_home, train.experiment_id) == {"dependencies": {}, "dependency": None}


def test_yanex_run_depends_on_by_name_and_id_repeatable(step, yanex_home, write_script):
    first, second = yanex.run_multiple([spec(step, "train"), spec(step, None)])
    script = write_script(
        "pick.py",
        """
        import json, yanex
        from yanex.errors import AmbiguousReferenceError, NotFoundError
        out = {"all": yanex.dependencies(), "train": yanex.dependency("train")}
        for call in (lambda: yanex.dependency(), lambda: yanex.dependency("nope")):
            try:
                call()
            except (AmbiguousReferenceError, NotFoundError) as error:
                out.setdefault("errors", []).append(type(error).__name__)
        print(json.dumps(out))
        """,
    )
    result = yanex_cli(
        "run", str(script), "--depends-on", "train", "--depends-on", second.experiment_id, "-n", "pick"
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out == {
        "all": {"train": first.experiment_id, second.experiment_id: second.experiment_id},
        "train": first.experiment_id,
        "errors": ["AmbiguousReferenceError", "NotFoundError"],
    }
    [(child,)] = query(yanex_home, "SELECT id FROM experiments WHERE name = 'pick'")
    assert edges(yanex_home) == {(child, first.experiment_id), (child, second.experiment_id)}


def test_standalone_dependency_is_none_and_dependencies_empty(write_script, tmp_path):
    script = write_script(
        "alone.py",
        "import yanex\nprint(yanex.dependency(), yanex.dependencies(), yanex.dependency('train'))\n",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("YANEX_EXPERIMENT")}
    env["YANEX_DEPENDENCIES"] = '[["abcdef12", "train"]]'  # ignored: no experiment is running
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["None", "{}", "None"]


def test_a_tracked_script_without_dependencies_gets_a_clear_error(write_script, yanex_home):
    script = write_script("lonely.py", "import yanex\nyanex.dependency()\n")
    result = yanex_cli("run", str(script))
    assert result.returncode == 1
    assert "NotFoundError: experiment" in result.stderr and "has no dependency" in result.stderr


def test_a_dependency_that_has_not_completed_is_refused_before_anything_runs(step, yanex_home):
    [broken] = yanex.run_multiple([spec(step, "broken", fail=True)])
    assert broken.status == "failed"
    before = counts(yanex_home)
    result = yanex_cli("run", str(step), "--depends-on", "broken")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"Error: dependency 'broken' ({broken.experiment_id[:8]}) is failed, not completed",
        "Hint: depend on a completed experiment, or run this one once it has completed",
    ]
    with pytest.raises(ConfigError, match=f"dependency {broken.experiment_id[:8]} is failed, not completed"):
        yanex.run_multiple([spec(step, "a"), spec(step, "b", broken.experiment_id)])
    assert counts(yanex_home) == before


def test_a_running_dependency_is_refused(step, yanex_home, tmp_path):
    gate = tmp_path / "gate"
    script = step.with_name("wait.py")
    script.write_text(
        f"import pathlib, time\nwhile not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.05)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-m", "yanex", "run", str(script), "-n", "slow"], env=dict(os.environ)
    )
    try:

        def running() -> bool:
            try:
                return bool(query(yanex_home, "SELECT 1 FROM experiments WHERE status = 'running'"))
            except sqlite3.OperationalError:  # the database is being created
                return False

        wait_until(running, "the parent to run")
        result = yanex_cli("run", str(step), "--depends-on", "slow")
        assert result.returncode == 2
        assert re.fullmatch(
            r"Error: dependency 'slow' \([0-9a-f]{8}\) is running, not completed",
            result.stderr.splitlines()[0],
        )
    finally:
        gate.touch()
        parent.wait(60)
    assert query(yanex_home, "SELECT count(*) FROM experiments") == [(1,)]


def test_unknown_and_ambiguous_dependencies_are_clear_errors(step, yanex_home):
    yanex.run_multiple([spec(step, "twin"), spec(step, "twin")])
    unknown = yanex_cli("run", str(step), "--depends-on", "nonesuch")
    assert unknown.returncode == 1
    assert (
        unknown.stderr.splitlines()[0]
        == "Error: dependency: no experiment matches 'nonesuch' (by id, id prefix or name)"
    )
    ambiguous = yanex_cli("run", str(step), "--depends-on", "twin")
    assert ambiguous.returncode == 2
    assert ambiguous.stderr.startswith("Error: dependency: 'twin' matches more than one experiment:")
    assert ambiguous.stderr.splitlines()[-1] == "Hint: use a longer id prefix or the full id"
    assert query(yanex_home, "SELECT count(*) FROM experiments") == [(2,)]


def test_dangling_name_on_a_fresh_home_is_not_found_and_writes_nothing(step, yanex_home):
    with pytest.raises(
        NotFoundError, match=r"experiment 1 \(evaluate\): dependency: no experiment matches 'trian'"
    ):
        yanex.run_multiple([spec(step, "train"), spec(step, "evaluate", "trian")])
    assert not (yanex_home / "yanex.db").exists()


@pytest.mark.parametrize("parallel", [None, 0, 2])
def test_a_child_starts_only_after_its_parent_completed(step, yanex_home, tmp_path, parallel):
    # The child comes first and the parent is slow: without the dependency the child would start first.
    # With two workers the parent also waits for the independent one to start beside it.
    other_started = str(tmp_path / "other")
    beside = parallel == 2
    specs = [
        spec(step, "evaluate", "train"),
        spec(step, "train", sleep=1.0, **({"after": other_started} if beside else {})),
        spec(step, "other", sleep=0.2, **({"started": other_started} if beside else {})),
        spec(step, "report", "evaluate", "train"),
    ]
    results = yanex.run_multiple(specs, parallel=parallel)
    assert [r.name for r in results] == ["evaluate", "train", "other", "report"]
    assert all(r.status == "completed" for r in results), results
    evaluate, train, other, report = (r.experiment_id for r in results)
    assert times(yanex_home, evaluate)[0] > times(yanex_home, train)[1]
    assert times(yanex_home, report)[0] > max(times(yanex_home, evaluate)[1], times(yanex_home, train)[1])
    if parallel == 2:  # independent work overlaps the parent
        assert times(yanex_home, other)[0] < times(yanex_home, train)[1]
    assert edges(yanex_home) == {(evaluate, train), (report, evaluate), (report, train)}
    assert printed(yanex_home, report)["dependencies"] == {"evaluate": evaluate, "train": train}


def test_a_child_waits_for_the_last_try_of_a_retried_parent(step, yanex_home, tmp_path):
    specs = [
        spec(step, "train", fail_once=str(tmp_path / "once"), sleep=0.3),
        spec(step, "evaluate", "train"),
    ]
    train, evaluate = yanex.run_multiple(specs, parallel=2, retries=1)
    assert train.status == evaluate.status == "completed"
    [(first_try,)] = query(yanex_home, "SELECT retry_of FROM experiments WHERE id = ?", train.experiment_id)
    assert first_try is not None and first_try != train.experiment_id
    assert edges(yanex_home) == {(evaluate.experiment_id, train.experiment_id)}
    assert printed(yanex_home, evaluate.experiment_id)["dependency"] == train.experiment_id
    assert times(yanex_home, evaluate.experiment_id)[0] > times(yanex_home, train.experiment_id)[1]


@pytest.mark.parametrize("parallel", [None, 2])
def test_a_failure_cancels_everything_downstream_and_nothing_else(step, yanex_home, parallel):
    specs = [
        spec(step, "report", "evaluate"),
        spec(step, "evaluate", "train"),
        spec(step, "train", fail=True),
        spec(step, "side", sleep=0.3),
        spec(step, "after-side", "side"),
    ]
    report, evaluate, train, side, after_side = yanex.run_multiple(specs, parallel=parallel)
    assert (train.status, train.error_message) == ("failed", "ValueError: broken on purpose")
    assert (evaluate.status, evaluate.error_message) == ("cancelled", "dependency 'train' failed")
    assert (report.status, report.error_message) == (
        "cancelled",
        "dependency 'train' failed (via 'evaluate')",
    )
    assert side.status == after_side.status == "completed"
    recorded = {
        name: outcome
        for name, outcome in query(
            yanex_home, "SELECT name, status || ': ' || coalesce(error_message, '') FROM experiments"
        )
    }
    assert recorded["evaluate"] == "cancelled: dependency 'train' failed"
    assert recorded["report"] == "cancelled: dependency 'train' failed (via 'evaluate')"
    assert query(yanex_home, "SELECT count(*) FROM experiments WHERE started_at IS NOT NULL") == [(3,)]
    assert (evaluate.experiment_id, train.experiment_id) in edges(yanex_home)


@pytest.mark.slow
def test_a_cancelled_parent_cancels_its_children_with_fail_fast(step, yanex_home, tmp_path):
    long_started = str(tmp_path / "long")
    specs = [
        spec(step, "bad", fail=True, after=long_started),  # fails once "long" runs
        spec(step, "long", sleep=60, started=long_started),
        spec(step, "child", "long"),
    ]
    bad, long, child = yanex.run_multiple(specs, parallel=2, fail_fast=True)
    assert bad.status == "failed" and long.status == "cancelled"
    assert (child.status, child.error_message) == ("cancelled", "dependency 'long' was cancelled")
    assert long.duration is not None and long.duration < 30


@pytest.mark.parametrize(
    ("depends", "message"),
    [
        (
            {"a": ["b"], "b": ["c"], "c": ["a"]},
            "the specs' dependencies form a cycle: 'a' -> 'b' -> 'c' -> 'a'",
        ),
        ({"a": ["a"]}, r"experiment 0 \(a\) depends on itself"),
        ({"a": ["twin"], "twin": []}, "depends on 'twin', the name of 2 specs of this call"),
        ({"b": ["nonesuch"]}, r"experiment 1 \(b\): dependency: no experiment matches 'nonesuch'"),
    ],
)
def test_cycles_self_and_dangling_names_are_refused_with_nothing_written(step, yanex_home, depends, message):
    yanex.run_multiple([spec(step, "earlier")])
    before = counts(yanex_home)
    names = ["a", "b", "c", "twin", "twin"]
    specs = [spec(step, name, *depends.get(name, [])) for name in names]
    with pytest.raises((ConfigError, NotFoundError, AmbiguousReferenceError), match=message):
        yanex.run_multiple(specs, parallel=2)
    assert counts(yanex_home) == before == (1, 1, 0)


def test_rerun_keeps_the_parents_and_reruns_a_pipeline_in_order(step, yanex_home, tmp_path):
    once = str(tmp_path / "once")
    train, evaluate = yanex.run_multiple(
        [spec(step, "train", fail_once=once), spec(step, "evaluate", "train")]
    )
    assert (train.status, evaluate.status) == ("failed", "cancelled")
    # Alone, the child would run on a failed parent: refused, nothing written.
    before = counts(yanex_home)
    alone = yanex_cli("rerun", evaluate.experiment_id)
    assert alone.returncode == 2
    assert alone.stderr.splitlines()[0] == (
        f"Error: cannot re-run {evaluate.experiment_id[:8]}: its dependency {train.experiment_id[:8]} "
        "is failed, not completed"
    )
    assert counts(yanex_home) == before
    # Together, the child waits for the parent's re-run and runs on it.
    together = yanex_cli("rerun", evaluate.experiment_id, train.experiment_id, "--parallel", "2")
    assert together.returncode == 0, together.stderr
    [(new_train,)] = query(yanex_home, "SELECT id FROM experiments WHERE retry_of = ?", train.experiment_id)
    [(new_evaluate,)] = query(
        yanex_home, "SELECT id FROM experiments WHERE retry_of = ?", evaluate.experiment_id
    )
    assert (new_evaluate, new_train) in edges(yanex_home)
    assert times(yanex_home, str(new_evaluate))[0] > times(yanex_home, str(new_train))[1]
    # A re-run of the child alone now keeps its (completed) parent.
    [again] = yanex.rerun([str(new_evaluate)])
    assert again.status == "completed"
    assert (again.experiment_id, new_train) in edges(yanex_home)
    assert printed(yanex_home, again.experiment_id)["dependency"] == new_train


def test_show_lists_parents_and_children_in_text_and_json(step, yanex_home):
    train, evaluate = yanex.run_multiple([spec(step, "train"), spec(step, "evaluate", "train")])
    runner = CliRunner()
    text = runner.invoke(app, ["show", "train"])
    assert text.exit_code == 0, text.output
    assert re.search(rf"needed by\s+{evaluate.experiment_id[:8]}  evaluate  completed\n", text.output)
    assert "depends on" not in text.output
    child = runner.invoke(app, ["show", evaluate.experiment_id])
    assert re.search(rf"depends on\s+{train.experiment_id[:8]}  train  completed\n", child.output)
    shown = json.loads(yanex_cli("show", "evaluate", "--format", "json").stdout)
    assert shown["parents"] == [{"id": train.experiment_id, "name": "train", "status": "completed"}]
    assert shown["children"] == []
    assert json.loads(yanex_cli("show", "train", "--format", "json").stdout)["children"] == [
        {"id": evaluate.experiment_id, "name": "evaluate", "status": "completed"}
    ]


def test_deleting_an_experiment_deletes_its_edges(step, yanex_home):
    train, evaluate = yanex.run_multiple([spec(step, "train"), spec(step, "evaluate", "train")])
    assert len(edges(yanex_home)) == 1
    declined = yanex_cli("delete", train.experiment_id, input="n\n")  # the prompt names who needs it
    assert declined.returncode == 1 and len(edges(yanex_home)) == 1
    assert (
        f"Note: 1 experiment(s) not deleted depend on these ({evaluate.experiment_id[:8]})" in declined.stderr
    )
    result = yanex_cli("delete", evaluate.experiment_id, "--yes")
    assert result.returncode == 0, result.stderr
    assert "depend on these" not in result.stderr  # nothing outside the deletion needs it
    assert edges(yanex_home) == set()


def test_the_lineage_queries_of_the_schema_doc_answer_for_a_real_pipeline(step, yanex_home):
    specs = [
        spec(step, "train"),
        spec(step, "evaluate", "train"),
        spec(step, "report", "evaluate"),
        spec(step, "x"),
    ]
    train, evaluate, report, _ = yanex.run_multiple(specs, parallel=2)
    doc = (REPO_ROOT / "docs" / "schema.md").read_text()
    blocks = [
        block for block in re.findall(r"```sql\n(.*?)```", doc, flags=re.DOTALL) if "RECURSIVE" in block
    ]
    ancestors, descendants = blocks
    with sqlite3.connect(yanex_home / "yanex.db") as conn:
        assert conn.execute(ancestors).fetchall() == [(1, train.experiment_id, "train", "completed")]
        assert sorted(conn.execute(descendants).fetchall()) == sorted(
            [(evaluate.experiment_id, "evaluate", "completed"), (report.experiment_id, "report", "completed")]
        )


def test_a_database_of_revision_0005_upgrades_and_takes_dependencies_on_its_old_rows(step, yanex_home):
    yanex_home.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "tests" / "data" / "yanex-0005.db", yanex_home / "yanex.db")
    before = query(yanex_home, "SELECT count(*) FROM experiments")
    result = yanex_cli("run", str(step), "--depends-on", "baseline", "-n", "on-old")
    assert result.returncode == 0, result.stderr
    [(child,)] = query(yanex_home, "SELECT id FROM experiments WHERE name = 'on-old'")
    [(baseline,)] = query(yanex_home, "SELECT id FROM experiments WHERE name = 'baseline'")
    assert edges(yanex_home) == {(child, baseline)}
    assert query(yanex_home, "SELECT count(*) - 1 FROM experiments") == before
    assert printed(yanex_home, str(child))["dependency"] == baseline


def test_a_skipped_parent_hands_its_earlier_run_to_the_child(step, yanex_home):
    [earlier] = yanex.run_multiple([spec(step, "train")])
    train, evaluate = yanex.run_multiple(
        [spec(step, "train"), spec(step, "evaluate", "train", variant=2)], skip_completed=True
    )
    assert train.experiment_id == earlier.experiment_id and evaluate.status == "completed"
    assert edges(yanex_home) == {(evaluate.experiment_id, earlier.experiment_id)}
    assert printed(yanex_home, evaluate.experiment_id)["dependency"] == earlier.experiment_id


@pytest.mark.parametrize(
    ("depends_on", "message"),
    [("train", "depends_on must be a list of names or ids, not one string"), ([" "], "non-empty")],
)
def test_depends_on_must_be_a_list_of_references(step, depends_on, message):
    with pytest.raises(ValueError, match=message):
        yanex.ExperimentSpec(script_path=step, depends_on=depends_on)


def test_yanex_run_refuses_an_empty_depends_on_with_a_hint(step, yanex_home):
    result = yanex_cli("run", str(step), "--depends-on", "")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "Error: depends_on must hold non-empty names or ids",
        "Hint: pass each --depends-on as a completed experiment's id, id prefix or name",
    ]


def test_skip_completed_runs_again_what_depends_on_a_spec_that_runs_again(step, yanex_home):
    first = yanex.run_multiple([spec(step, "train", x=1), spec(step, "evaluate", "train")])
    again = yanex.run_multiple(
        [spec(step, "train", x=2), spec(step, "evaluate", "train")], skip_completed=True
    )
    assert all(result.status == "completed" for result in again), again
    assert {result.experiment_id for result in again}.isdisjoint(r.experiment_id for r in first)
    assert printed(yanex_home, again[1].experiment_id)["dependency"] == again[0].experiment_id


EVALUATE_UNLESS_FLAGGED = """
import os, pathlib, sys, yanex
k = yanex.get_param("k")
if k == 2 and not pathlib.Path(os.environ["FLAG"]).exists():
    sys.exit(1)
yanex.log_metrics({"k": k})
"""


def test_a_sweep_pins_its_parents_and_counts_only_points_run_on_them(
    write_script, yanex_home, tmp_path, monkeypatch
):
    """A sweep's --depends-on is stored as ids; resume and skip_completed count a point as done
    only if it ran on those parents, not on another experiment with the same script and config."""
    train = write_script("train.py", "import yanex\nyanex.log_metrics({'loss': 0.1})\n")
    evaluate = write_script("evaluate.py", EVALUATE_UNLESS_FLAGGED)
    flag = tmp_path / "flag"
    monkeypatch.setenv("FLAG", str(flag))
    for name in ("P1", "P2"):
        assert yanex_cli("run", str(train), "--name", name).returncode == 0
    [(p1,), (p2,)] = query(yanex_home, "SELECT id FROM experiments ORDER BY name")
    flag.touch()
    on_p1 = yanex_cli("run", str(evaluate), "-p", "k=list(1,2)", "--depends-on", "P1")
    assert on_p1.returncode == 0, on_p1.stderr
    flag.unlink()
    on_p2 = yanex_cli("run", str(evaluate), "-p", "k=list(1,2)", "--depends-on", "P2")
    assert on_p2.returncode == 1  # k=2 failed on P2
    [(batch, stored)] = query(
        yanex_home,
        "SELECT id, spec FROM batches WHERE spec LIKE ? ORDER BY created_at DESC LIMIT 1",
        f"%{p2}%",
    )
    assert json.loads(str(stored))["depends_on"] == [p2]

    flag.touch()
    resumed = yanex_cli("sweep", "resume", str(batch))
    assert resumed.returncode == 0, resumed.stderr

    def k_on(parent: object, k: int) -> list[str]:
        return [
            str(row[0])
            for row in query(
                yanex_home,
                "SELECT e.id FROM experiments AS e JOIN dependencies AS d ON d.experiment_id = e.id "
                "WHERE d.depends_on_id = ? AND json_extract(e.config, '$.k') = ? AND e.status = 'completed'",
                parent,
                k,
            )
        ]

    assert len(k_on(p2, 2)) == 1  # k=2 ran again on P2, though it had completed on P1
    again = yanex.run_multiple(
        [spec(evaluate, None, str(p1), k=1), spec(evaluate, None, str(p2), k=1)], skip_completed=True
    )
    assert [r.experiment_id for r in again] == [*k_on(p1, 1), *k_on(p2, 1)]
    assert len(query(yanex_home, "SELECT id FROM experiments")) == 2 + 2 + 2 + 1  # nothing ran again


def test_a_dry_run_checks_its_dependencies(step, yanex_home, write_script):
    script = write_script("q.py", "pass\n")
    for params in (["-p", "k=list(1,2)"], ["-p", "k=1"]):
        result = yanex_cli("run", str(script), *params, "--depends-on", "nosuchname", "--dry-run")
        assert result.returncode != 0 and "Error: " in result.stderr and "nosuchname" in result.stderr
        assert "Traceback" not in result.stderr

"""The filters are declared once (``yanex.store.filters``): the CLI options of every selecting
command and the keywords of ``yanex.find``/``compare_frame`` are derived from that declaration."""

from __future__ import annotations

import inspect

import pytest
import typer.main

import yanex
from yanex.cli.app import app
from yanex.store.filters import ExperimentFilter, declared

SELECTING = {"list": {"select", "archive", "order"}, "get": {"select", "archive", "order"}}
SELECTING |= {"compare": {"select", "archive", "order"}, "delete": {"select", "archive"}}
SELECTING |= {"rerun": {"select"}, "archive": {"select"}, "unarchive": {"select"}}


def _flags(command: str) -> set[str]:
    group = typer.main.get_command(app)
    found = group.commands[command]  # type: ignore[attr-defined]
    return {flag for param in found.params for flag in param.opts}


@pytest.mark.parametrize("command", sorted(SELECTING))
def test_every_declared_filter_is_an_option_of_each_selecting_command(command: str) -> None:
    flags = _flags(command)
    for field in declared():
        if field.option.group in SELECTING[command]:
            assert set(field.option.flags) <= flags, (command, field.name)


@pytest.mark.parametrize("function", [yanex.find, yanex.compare_frame], ids=lambda f: f.__name__)
def test_every_declared_filter_is_a_keyword_of_the_python_api(function: object) -> None:
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    for field in declared():
        assert field.keyword in parameters, field.keyword
        assert parameters[field.keyword].default == field.default
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def test_the_declaration_covers_every_filter_field() -> None:
    names = {field.name for field in declared()}
    assert names == {f for f in ExperimentFilter.__dataclass_fields__ if f != "ids"}
    assert len({field.keyword for field in declared()}) == len(names)  # no two share a keyword

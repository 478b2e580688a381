"""How a table is declared, in the standard library: a class whose fields are its columns.

A table whose rows the store reads back as records is declared by its ``@record`` class (a frozen
dataclass); one the store only writes and queries in SQL, by a plain class of annotations, each a
column (no dataclass to build at import). In a ``@record``, a field made with ``column()`` is a
column, named after the field unless ``column("name")`` says otherwise. A column's kind follows
from its type (``str`` and string enums: text, ``int``: integer, ``float``: real, ``bool``:
boolean, ``datetime``: timestamp, lists, dicts and ``JsonText``: JSON), and ``X | None`` makes it
nullable. A field whose type is itself a ``@record`` stands for that record's columns (an
experiment's ``git`` is the ``git_*`` columns). A field made with ``related()`` is no column: its
value comes from another table (an experiment's tags) and is handed to ``Shape.decode``.

From the declaration come the column lists of INSERT and SELECT statements (``Table``), a row's
values as SQLite stores them (``Shape.encode``) and a record read back from them
(``Shape.decode``): adding a column is one field here, one in ``yanex.db.models``, an alembic
revision and its line in docs/schema.md (``tests/test_tables.py`` holds the four together).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NewType, TypeVar, dataclass_transform

from yanex.store.dialect import aware_time, sqlite_value

# As docs/schema.md names them.
Kind = Literal["text", "integer", "real", "boolean", "timestamp", "JSON"]


# JSON text a reader keeps as text (compared as stored, decoded only when shown).
JsonText = NewType("JsonText", str)


def column(
    name: str | None = None,
    *,
    default: Any = dataclasses.MISSING,
    factory: Any = dataclasses.MISSING,
    empty_is_null: bool = False,
) -> Any:
    """A column field, named ``name`` (default: the field's). ``empty_is_null``: an empty list or
    dict is stored as NULL, and NULL read back as empty (an experiment outside git has no remotes)."""
    metadata = {"column": name, "empty_is_null": empty_is_null}
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


def related(*, default: Any = dataclasses.MISSING) -> Any:
    """A field read from another table, not a column of this one."""
    return dataclasses.field(default=default, metadata={"related": True})


_Record = TypeVar("_Record")


@dataclass_transform(frozen_default=True, field_specifiers=(column, related))
def record(cls: type[_Record]) -> type[_Record]:
    """Declares a table's row (or a group of its columns): a frozen dataclass of ``column()`` and
    ``related()`` fields."""
    return dataclass(frozen=True)(cls)


@dataclass(frozen=True)
class Column:
    """One column: its name and kind, whether it may be NULL, and the field path of a record
    that holds it (``("git", "commit")``)."""

    name: str
    kind: Kind
    nullable: bool
    path: tuple[str, ...]
    encode: Callable[[Any], Any] = dataclasses.field(compare=False, repr=False)
    decode: Callable[[Any], Any] = dataclasses.field(compare=False, repr=False)


def _optional(hint: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``T | None``, ``(hint, False)`` otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1 and len(args) < len(typing.get_args(hint)):
            return args[0], True
    return hint, False


def _flag(value: int | None) -> bool | None:
    return None if value is None else bool(value)


Codec = Callable[[Any], Any]


def _json_codec(hint: Any, nullable: bool, empty_is_null: bool) -> tuple[Codec, Codec]:
    """Encode and decode of a JSON column; a list of dataclasses is stored as a list of objects."""
    origin = typing.get_origin(hint) or hint
    items = typing.get_args(hint)
    element: Any = items[0] if origin is list and items and dataclasses.is_dataclass(items[0]) else None

    def encode(value: Any) -> str | None:
        if value is None or (empty_is_null and not value):
            return None
        if element is not None:
            value = [dataclasses.asdict(item) for item in value]
        return json.dumps(value)

    def decode(text: str | None) -> Any:
        if text is None:
            return None if nullable else origin()
        value = json.loads(text)
        return [element(**item) for item in value] if element is not None else value

    return encode, decode


def _codec(hint: Any, nullable: bool, empty_is_null: bool) -> tuple[Kind, Codec, Codec]:
    """The kind of a field's column, and how its value is written and read."""
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        enum_type: type[enum.Enum] = hint
        return "text", lambda value: value.value, lambda text: enum_type(text)
    if typing.get_origin(hint) in (list, dict) or hint in (list, dict):
        encode, decode = _json_codec(hint, nullable, empty_is_null)
        return "JSON", encode, decode
    if hint is datetime:
        return "timestamp", sqlite_value, aware_time
    if hint is bool:
        return "boolean", _flag, _flag
    kinds: dict[Any, Kind] = {str: "text", JsonText: "JSON", int: "integer", float: "real"}
    if hint not in kinds:
        raise TypeError(f"no column kind for {hint!r}")
    return kinds[hint], _same, _same


def _same(value: Any) -> Any:
    return value


def _plain(hints: Mapping[str, Any]) -> list[dataclasses.Field[Any]]:
    """The columns of a plain class of annotations, as ``column()`` fields named as annotated."""
    fields = []
    for name in hints:
        item: dataclasses.Field[Any] = column()
        item.name = name
        fields.append(item)
    return fields


class Shape:
    """A record class as rows hold it: its columns, in field order, and how to build it from them."""

    def __init__(self, record: type[Any], path: tuple[str, ...] = ()) -> None:
        self.record = record
        self.columns: list[Column] = []
        # Per field: ("column", index), ("group", (index, Shape)) or ("related", dotted path).
        self._steps: list[tuple[str, str, Any]] = []
        self._decoder: Callable[[Sequence[Any], Mapping[str, Any] | None], Any] | None = None
        hints = typing.get_type_hints(record)
        fields = dataclasses.fields(record) if dataclasses.is_dataclass(record) else _plain(hints)
        for item in fields:
            hint, optional = _optional(hints[item.name])
            if item.metadata.get("related"):
                self._steps.append((item.name, "related", ".".join((*path, item.name))))
            elif "column" in item.metadata:
                empty_is_null = bool(item.metadata["empty_is_null"])
                kind, encode, decode = _codec(hint, optional, empty_is_null)
                name = item.metadata["column"] or item.name
                nullable = optional or empty_is_null
                self._steps.append((item.name, "column", len(self.columns)))
                self.columns.append(Column(name, kind, nullable, (*path, item.name), encode, decode))
            elif isinstance(hint, type) and dataclasses.is_dataclass(hint):
                inner = Shape(hint, (*path, item.name))
                self._steps.append((item.name, "group", (len(self.columns), inner)))
                self.columns += inner.columns
            else:
                raise TypeError(f"{record.__name__}.{item.name} is neither a column nor related")
        self._path = path
        self._encoder: Callable[[Any], list[Any]] | None = None

    def decode(self, row: Sequence[Any], related: Mapping[str, Any] | None = None) -> Any:
        """The record of a row whose first columns are ``self.columns``; ``related`` holds the
        values of ``related()`` fields by dotted path (``"tags"``, ``"git.patch"``)."""
        if self._decoder is None:
            # One expression building the whole record, as dataclasses builds its __init__: a
            # thousand rows side by side are read without a Python loop per column.
            namespace: dict[str, Any] = {}
            self._decoder = eval(f"lambda row, related: {self._source(0, namespace)}", namespace)
        return self._decoder(row, related)

    def _source(self, offset: int, namespace: dict[str, Any]) -> str:
        """The expression building this record from ``row`` (its columns from ``offset``); the
        functions it calls are put in ``namespace``."""

        def named(value: Any) -> str:
            name = f"_{len(namespace)}"
            namespace[name] = value
            return name

        arguments = []
        for name, step, where in self._steps:
            if step == "column":
                decode = self.columns[where].decode
                value = f"row[{offset + where}]"
                if decode is not _same:
                    value = f"{named(decode)}({value})"
            elif step == "group":
                start, inner = where
                value = inner._source(offset + start, namespace)
            else:
                value = f"related[{where!r}]"
            arguments.append(f"{name}={value}")
        return f"{named(self.record)}({', '.join(arguments)})"

    def encode(self, record: Any) -> list[Any]:
        """The values of the record's columns as SQLite stores them, in column order."""
        if self._encoder is None:
            # One list expression, as for decoding: a sweep writes 10,000 rows in one go.
            namespace: dict[str, Any] = {}
            values = []
            for index, column in enumerate(self.columns):
                value = "record." + ".".join(column.path[len(self._path) :])
                if column.encode is not _same:
                    namespace[f"_{index}"] = column.encode
                    value = f"_{index}({value})"
                values.append(value)
            self._encoder = eval(f"lambda record: [{', '.join(values)}]", namespace)
        return self._encoder(record)


class Table:
    """A table: its name and columns, from one or more record classes (a record and the columns
    the store keeps for itself). The columns are read off the classes when first needed."""

    def __init__(self, name: str, *records: type[Any]) -> None:
        self.name = name
        self._records = records

    @functools.cached_property
    def shapes(self) -> tuple[Shape, ...]:
        return tuple(Shape(record) for record in self._records)

    @property
    def columns(self) -> list[Column]:
        return [column for shape in self.shapes for column in shape.columns]

    def names(self) -> str:
        """``a, b, c``: every column, for SELECT or INSERT."""
        return ", ".join(column.name for column in self.columns)

    def insert(self) -> str:
        """``INSERT INTO t (every column) VALUES (?, ...)``, for rows made by ``row``."""
        return f"INSERT INTO {self.name} ({self.names()}) VALUES ({', '.join('?' * len(self.columns))})"

    def row(self, *records: Any) -> list[Any]:
        """One row's values for ``insert``: one record per shape, in order."""
        return [
            value
            for shape, record in zip(self.shapes, records, strict=True)
            for value in shape.encode(record)
        ]


__all__ = ["Column", "JsonText", "Kind", "Shape", "Table", "column", "record", "related"]

"""Stream's query filters (``{"field": {"$in": [...]}, "$or": [...]}``) compiled to SQL.

Built-in fields map to columns; any other field is looked up in the row's JSON custom data, cast
by the type of the value it is compared with, which works alike on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, false, literal, not_, or_, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement as Col
from sqlalchemy.sql.functions import FunctionElement

from hubbub import errors

#: A field whose meaning is not a plain column (e.g. channel ``members``) compiles itself.
SpecialField = Callable[[str, Any], ColumnElement[bool]]

COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$autocomplete")


def _json_value(column: Col, key: str, sample: Any) -> Col:
    element = column[key]
    if isinstance(sample, bool):
        return element.as_boolean()
    if isinstance(sample, int):
        return element.as_integer()
    if isinstance(sample, float):
        return element.as_float()
    return element.as_string()


def _scalar(value: Any, field: str) -> Any:
    if isinstance(value, (dict, list)):
        raise errors.InputError(f"invalid value for field {field}: expected a scalar")
    return value


def compile_filter(
    conditions: Any,
    table: FromClause,
    *,
    columns: Mapping[str, str],
    data_column: str = "data",
    special: Mapping[str, SpecialField] | None = None,
) -> ColumnElement[bool]:
    """Compile ``conditions`` for ``table``. Unknown operators and bad shapes: ``InputError``."""
    if conditions in (None, {}):
        return true()
    if not isinstance(conditions, dict):
        raise errors.InputError("filter_conditions must be an object")
    special = special or {}
    clauses: list[ColumnElement[bool]] = []
    for field, condition in conditions.items():
        if field in ("$and", "$or", "$nor"):
            if not isinstance(condition, list) or not condition:
                raise errors.InputError(f"{field} expects a non-empty array of filters")
            parts = [compile_filter(c, table, columns=columns, data_column=data_column,
                                    special=special) for c in condition]
            combined = and_(*parts) if field == "$and" else or_(*parts)
            clauses.append(not_(combined) if field == "$nor" else combined)
            continue
        if field.startswith("$"):
            raise errors.InputError(f"unsupported filter operator {field}")
        if field in special:
            clauses.append(special[field](field, condition))
            continue
        ops = condition if isinstance(condition, dict) else {"$eq": condition}
        for op, value in ops.items():
            clauses.append(_compare(table, columns, data_column, field, op, value))
    return and_(*clauses) if clauses else true()


def _compare(table: FromClause, columns: Mapping[str, str], data_column: str, field: str, op: str,
             value: Any) -> ColumnElement[bool]:
    if op not in COMPARISONS:
        raise errors.InputError(f"unsupported filter operator {op} for field {field}")
    if op in ("$in", "$nin"):
        if not isinstance(value, list):
            raise errors.InputError(f"{op} on field {field} expects an array")
        values = [_scalar(v, field) for v in value]
        if not values:
            return false() if op == "$in" else true()
        column = (table.c[columns[field]] if field in columns
                  else _json_value(table.c[data_column], field, values[0]))
        return column.in_(values) if op == "$in" else column.not_in(values)
    if op == "$exists":
        column = (table.c[columns[field]] if field in columns
                  else table.c[data_column][field].as_string())
        return column.is_not(None) if value else column.is_(None)
    value = _scalar(value, field)
    column = (table.c[columns[field]] if field in columns
              else _json_value(table.c[data_column], field, value))
    if op == "$autocomplete":
        return column.like(f"%{value}%")
    if value is None:
        return column.is_(None) if op == "$eq" else column.is_not(None)
    return {
        "$eq": lambda: column == value, "$ne": lambda: column != value,
        "$gt": lambda: column > value, "$gte": lambda: column >= value,
        "$lt": lambda: column < value, "$lte": lambda: column <= value,
    }[op]()


class _JsonSortKey(FunctionElement[Any]):
    """A custom field as a sort key in its JSON type, so numbers sort as numbers, not as text
    (``as_string()`` would put 10 before 9)."""

    name = "json_sort_key"
    inherit_cache = True


@compiles(_JsonSortKey)
def _json_sort_key(element: _JsonSortKey, compiler: Any, **kw: Any) -> str:
    # PostgreSQL: jsonb compares numbers numerically and strings as text.
    column, key, _path = list(element.clauses)
    return f"({compiler.process(column, **kw)} -> CAST({compiler.process(key, **kw)} AS TEXT))"


@compiles(_JsonSortKey, "sqlite")
def _json_sort_key_sqlite(element: _JsonSortKey, compiler: Any, **kw: Any) -> str:
    # SQLite: JSON_EXTRACT returns native values (integers, reals, text) that order by type.
    column, _key, path = list(element.clauses)
    return f"JSON_EXTRACT({compiler.process(column, **kw)}, {compiler.process(path, **kw)})"


def _sort_key(table: FromClause, data_column: str, field: str) -> Any:
    return _JsonSortKey(table.c[data_column], literal(field), literal("$." + json.dumps(field)))


def compile_sort(sort: Any, table: FromClause, *, columns: Mapping[str, str],
                 data_column: str = "data") -> list[Any]:
    """``[{"field": f, "direction": 1|-1}]`` to ORDER BY clauses."""
    if sort in (None, []):
        return []
    if isinstance(sort, dict):
        sort = [{"field": k, "direction": v} for k, v in sort.items()]
    if not isinstance(sort, list):
        raise errors.InputError("sort must be an array of {field, direction}")
    clauses = []
    for item in sort:
        if not isinstance(item, dict) or not isinstance(item.get("field"), str):
            raise errors.InputError("sort must be an array of {field, direction}")
        field = item["field"]
        direction = item.get("direction", 1)
        column = (table.c[columns[field]] if field in columns
                  else _sort_key(table, data_column, field))
        clauses.append(column.desc() if direction == -1 else column.asc())
    return clauses

"""Stream's query filters (``{"field": {"$in": [...]}, "$or": [...]}``) compiled to SQL.

Built-in fields map to columns; any other field is looked up in the row's JSON custom data and
compared only where its JSON type is the type of the value it is compared with (a number with
numbers, a string with strings, a boolean with booleans). A row whose field holds another type
does not match, and is never cast: a cast would fail on PostgreSQL (``'old'::integer``) and turn
into 0 on SQLite, so the two databases would answer differently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Float,
    FromClause,
    String,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement as Col
from sqlalchemy.sql.functions import FunctionElement

from hubbub import errors

#: A field whose meaning is not a plain column (e.g. channel ``members``) compiles itself.
SpecialField = Callable[[str, Any], ColumnElement[bool]]

COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$autocomplete")


class _JsonScalar(FunctionElement[Any]):
    """The custom field ``key`` of a JSON column if its JSON type is ``kind``, else NULL."""

    inherit_cache = True
    kind = ""

    def __init__(self, column: Col, key: str) -> None:
        super().__init__(column, literal(key), literal("$." + json.dumps(key)))


class _JsonNumber(_JsonScalar):
    name, kind, type = "json_number", "number", Float()
    inherit_cache = True


class _JsonString(_JsonScalar):
    name, kind, type = "json_string", "string", String()
    inherit_cache = True


class _JsonBoolean(_JsonScalar):
    name, kind, type = "json_boolean", "boolean", Boolean()
    inherit_cache = True


def _json_scalar_pg(element: _JsonScalar, compiler: Any, **kw: Any) -> str:
    # CASE evaluates the cast only for rows of the right type, so it cannot fail.
    # Only the clauses that are rendered may be processed: each becomes a bound parameter.
    column_clause, key_clause, _path = list(element.clauses)
    column = compiler.process(column_clause, **kw)
    key = f"CAST({compiler.process(key_clause, **kw)} AS TEXT)"
    typed = f"jsonb_typeof({column} -> {key}) = '{element.kind}'"
    text = f"({column} ->> {key})"
    value = {"number": f"CAST({text} AS DOUBLE PRECISION)", "string": text,
             "boolean": f"CAST({text} AS BOOLEAN)"}[element.kind]
    return f"(CASE WHEN {typed} THEN {value} END)"


def _json_scalar_sqlite(element: _JsonScalar, compiler: Any, **kw: Any) -> str:
    column_clause, _key, path_clause = list(element.clauses)
    column, path = compiler.process(column_clause, **kw), compiler.process(path_clause, **kw)
    json_type = f"JSON_TYPE({column}, {path})"
    if element.kind == "boolean":
        return f"(CASE {json_type} WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
    types = "'integer', 'real'" if element.kind == "number" else "'text'"
    return f"(CASE WHEN {json_type} IN ({types}) THEN JSON_EXTRACT({column}, {path}) END)"


for _cls in (_JsonNumber, _JsonString, _JsonBoolean):
    compiles(_cls)(_json_scalar_pg)
    compiles(_cls, "sqlite")(_json_scalar_sqlite)


def _kind(sample: Any) -> type[_JsonScalar]:
    if isinstance(sample, bool):
        return _JsonBoolean
    if isinstance(sample, (int, float)):
        return _JsonNumber
    return _JsonString


def _json_value(column: Col, key: str, sample: Any) -> Col:
    return _kind(sample)(column, key)


def _json_in(column: Col, key: str, values: list[Any]) -> ColumnElement[bool]:
    """``key`` is one of ``values`` (which may mix JSON types): never NULL."""
    by_kind: dict[type[_JsonScalar], list[Any]] = {}
    for value in values:
        by_kind.setdefault(_kind(value), []).append(value)
    return or_(*(func.coalesce(kind(column, key).in_(same), false())
                 for kind, same in by_kind.items()))


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
            # A row without the field matches none of the filters, so $nor takes it (NULL
            # from SQL's three-valued logic counts as "no match").
            clauses.append(not_(func.coalesce(combined, false())) if field == "$nor"
                           else combined)
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
    column: ColumnElement[Any]
    if op in ("$in", "$nin"):
        if not isinstance(value, list):
            raise errors.InputError(f"{op} on field {field} expects an array")
        values = [_scalar(v, field) for v in value]
        if not values:
            return false() if op == "$in" else true()
        if field in columns:
            column = table.c[columns[field]]
            return column.in_(values) if op == "$in" else column.not_in(values)
        found = _json_in(table.c[data_column], field, values)
        if op == "$in":
            return found
        # Like a column's NOT IN: rows without the field do not match.
        return and_(table.c[data_column][field].as_string().is_not(None), not_(found))
    if op == "$exists":
        column = (table.c[columns[field]] if field in columns
                  else table.c[data_column][field].as_string())
        return column.is_not(None) if value else column.is_(None)
    value = _scalar(value, field)
    if field in columns:
        column = table.c[columns[field]]
    elif value is None:
        column = table.c[data_column][field].as_string()  # missing, or JSON null
    else:
        column = _json_value(table.c[data_column], field,
                             str(value) if op == "$autocomplete" else value)
    if op == "$autocomplete":
        # Case-insensitive on both databases (SQLite's LIKE is, PostgreSQL's is not), and the
        # client's text is text, not a pattern: ``%`` and ``_`` match themselves.
        return column.icontains(str(value), autoescape=True)
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
        # Missing values sort as the smallest on both databases (SQLite's own order;
        # PostgreSQL's default would put them last when ascending).
        clauses.append(column.desc().nulls_last() if direction == -1
                       else column.asc().nulls_first())
    return clauses

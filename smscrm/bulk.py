"""Set per-row values on many rows in one statement.

Django's ``bulk_update`` builds a ``CASE WHEN id = … THEN …`` expression per row and field in
Python, which costs more than the database work for a few hundred rows. On PostgreSQL this
sends the values as arrays and joins them with ``unnest``; elsewhere it falls back to
``bulk_update``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import connection, models

#: Element types sent as one array literal built here ("{1,2,3}"): the driver's own quoting of
#: each element of a list costs more than the statement for a few hundred rows.
_NUMERIC = {"bigint", "integer", "smallint"}


def array_param(kind: str, values: Sequence):
    """A list parameter for ``%s::<kind>[]``: integers as one literal, anything else as a list."""
    if kind in _NUMERIC and all(type(value) is int for value in values):
        return "{" + ",".join(map(str, values)) + "}"
    return list(values)


def update_by_id(
    model: type[models.Model],
    ids: Sequence[int],
    values: Mapping[str, tuple[str, Sequence]],
    *,
    fixed: Mapping[str, object] | None = None,
) -> int:
    """``values``: column → (PostgreSQL array element type, one value per id); ``fixed``:
    column → one value for every row. Column names are attnames (``message_id``)."""
    if not ids:
        return 0
    fixed = dict(fixed or {})
    if connection.vendor != "postgresql":
        objects = []
        for index, pk in enumerate(ids):
            obj = model(pk=pk)
            for column, (_type, column_values) in values.items():
                setattr(obj, column, column_values[index])
            for column, value in fixed.items():
                setattr(obj, column, value)
            objects.append(obj)
        by_attname = {field.attname: field.name for field in model._meta.concrete_fields}
        fields = [by_attname[column] for column in [*values, *fixed]]
        return model.objects.bulk_update(objects, fields, batch_size=500)
    table = model._meta.db_table
    columns = list(values)
    assignments = [f'"{column}" = v."{column}"' for column in columns]
    assignments += [f'"{column}" = %s' for column in fixed]
    arrays = ", ".join(["%s::bigint[]", *(f"%s::{values[c][0]}[]" for c in columns)])
    names = ", ".join(["id", *(f'"{c}"' for c in columns)])
    # Identifiers come from model metadata; every value is a parameter.
    sql = (
        f'UPDATE "{table}" AS t SET {", ".join(assignments)} '  # noqa: S608
        f"FROM unnest({arrays}) AS v({names}) WHERE t.id = v.id"
    )
    params = [*fixed.values(), array_param("bigint", ids), *(array_param(values[c][0], values[c][1]) for c in columns)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def insert_returning_ids(
    model: type[models.Model], columns: Mapping[str, tuple[str, Sequence]], *, key: str
) -> dict[object, int]:
    """Insert one row per position of the column lists; returns {value of ``key``: new id}.

    On PostgreSQL one ``INSERT … SELECT FROM unnest(…) RETURNING``; elsewhere Django's
    ``bulk_create`` then a look-up by ``key`` (a unique column). Defaults of the model are
    not applied: pass every NOT NULL column.
    """
    names = list(columns)
    size = len(columns[key][1])
    if not size:
        return {}
    if connection.vendor != "postgresql":
        objects = [model(**{name: columns[name][1][index] for name in names}) for index in range(size)]
        model.objects.bulk_create(objects)
        keys = list(columns[key][1])
        return dict(model.objects.filter(**{f"{key}__in": keys}).values_list(key, "id"))
    arrays = ", ".join(f"%s::{columns[name][0]}[]" for name in names)
    quoted = ", ".join(f'"{name}"' for name in names)
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ({quoted}) '  # noqa: S608 - identifiers from model metadata
        f'SELECT * FROM unnest({arrays}) RETURNING "{key}", id'
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [array_param(columns[name][0], columns[name][1]) for name in names])
        return dict(cursor.fetchall())

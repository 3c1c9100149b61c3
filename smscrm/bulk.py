"""Set per-row values on many rows in one statement.

Django's ``bulk_update`` builds a ``CASE WHEN id = … THEN …`` expression per row and field in
Python, which costs more than the database work for a few hundred rows. On PostgreSQL this
sends the values as arrays and joins them with ``unnest``; elsewhere it falls back to
``bulk_update``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.db import connection, models


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
        fields = [model._meta.get_field(c[:-3] if c.endswith("_id") else c).name for c in [*values, *fixed]]
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
    params = [*fixed.values(), list(ids), *(list(values[c][1]) for c in columns)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount

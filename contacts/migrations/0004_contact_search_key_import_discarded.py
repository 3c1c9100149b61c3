"""Accent- and case-blind contact search, and discarded imports.

- ``Contact.search_name``, ``search_surname``, ``search_email``: the names and e-mail folded by
  ``contacts.searchtext`` ("first last", "last first", e-mail), filled here for the contacts that
  exist (in batches of ids, one UPDATE per batch), then indexed on PostgreSQL: one B-tree on
  (tenant, column text_pattern_ops) per column, so that a prefix search (``LIKE 'zoe%'``) is an
  index range scan at a million contacts. B-trees, not a trigram index: a trigram GIN index
  tripled the cost of COPYing new contacts, which a million-row import pays.
  SQLite (laptops) gets no index: its LIKE ignores ordinary indexes.
- ``ContactImport.Status.DISCARDED``.
"""

from django.db import migrations, models

from contacts.searchtext import contact_search_keys

BATCH = 5_000
TABLE = "contacts_contact"
COLUMNS = ("search_name", "search_surname", "search_email")


def fill_search_keys(apps, schema_editor):
    connection = schema_editor.connection
    after = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, first_name, last_name, email FROM {TABLE} WHERE id > %s ORDER BY id LIMIT %s",  # noqa: S608
                [after, BATCH],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            after = rows[-1][0]
            keys = [(*contact_search_keys(first_name=f, last_name=la, email=e), pk) for pk, f, la, e in rows]
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {TABLE} c SET search_name = v.name, search_surname = v.surname, search_email = v.email"  # noqa: S608
                    " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS v(id, name, surname, email)"
                    " WHERE c.id = v.id",
                    [[k[3] for k in keys], [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]],
                )
            else:
                cursor.executemany(
                    f"UPDATE {TABLE} SET search_name = %s, search_surname = %s, search_email = %s WHERE id = %s",  # noqa: S608
                    keys,
                )


def create_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS contact_{column} ON {TABLE} (tenant_id, {column} text_pattern_ops)"
        )


def drop_search_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for column in COLUMNS:
            schema_editor.execute(f"DROP INDEX IF EXISTS contact_{column}")


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0003_custom_fields_reserved_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="search_name",
            field=models.TextField(blank=True, db_default="", default="", editable=False),
        ),
        migrations.AddField(
            model_name="contact",
            name="search_surname",
            field=models.TextField(blank=True, db_default="", default="", editable=False),
        ),
        migrations.AddField(
            model_name="contact",
            name="search_email",
            field=models.TextField(blank=True, db_default="", default="", editable=False),
        ),
        migrations.AlterField(
            model_name="contactimport",
            name="status",
            field=models.CharField(
                choices=[
                    ("uploaded", "Uploaded: map the columns"),
                    ("previewing", "Checking every row"),
                    ("previewed", "Preview ready"),
                    ("committing", "Importing"),
                    ("committed", "Imported"),
                    ("failed", "Failed"),
                    ("discarded", "Discarded"),
                ],
                default="uploaded",
                max_length=12,
            ),
        ),
        # The index is built after the fill: one build is much faster than a million updates of it.
        migrations.RunPython(fill_search_keys, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(create_search_indexes, drop_search_indexes),
    ]

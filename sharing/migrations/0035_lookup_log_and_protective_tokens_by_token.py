"""The lookup log and the protective tokens beside the summaries, by token (on a Citus cluster).

Both databases: a protective token carries a copy of its registration's times (``registered_at``,
``in_force_until``: the expiry, or the withdrawal) and no database foreign key to it, so that a lookup reads
the tokens alone. On a Citus cluster, then (a no-op on a plain PostgreSQL):

- ``sharing_protectivetoken`` is sharded by token, co-located with ``sharing_tokensummary``;
- ``sharing_lookupentry`` (partitioned by month) too. Citus wants the token in its primary key, so on the
  cluster the database's key is (token, lookup_id, position, created_at), where a plain PostgreSQL keeps
  (lookup_id, position, created_at), with an index on (lookup_id, position) for the reads by lookup;
  Django's key, (lookup_id, position), is unchanged. Its append-only
  trigger only refuses, writing nothing, so it runs on each shard as it did on the table
  (``core.citus.table_distribute(with_triggers=True)``).

A single-identifier lookup then reads its summary, its inquiry counts and its protective registrations on
the one shard holding its token (docs/design.md, "Distribution (Citus)"). Reversible.
"""

from django.db import migrations, models

from core.citus import citus_present, table_distribute, table_undistribute

_TIMES_COPY = """
    UPDATE sharing_protectivetoken pt
    SET registered_at = pr.registered_at, in_force_until = least(pr.withdrawn_at, pr.expires_at)
    FROM sharing_protectiveregistration pr
    WHERE pr.id = pt.registration_id
"""


def distribute(apps, schema_editor):
    connection = schema_editor.connection
    if not citus_present(connection):
        return
    table_distribute(connection, table="sharing_protectivetoken", column="token", colocate_with="sharing_tokensummary")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE sharing_lookupentry DROP CONSTRAINT sharing_lookupentry_pkey")
        cursor.execute(
            "ALTER TABLE sharing_lookupentry ADD CONSTRAINT sharing_lookupentry_pkey "
            "PRIMARY KEY (token, lookup_id, position, created_at)"
        )
        # What the plain key served: a lookup's entries by its id (the admin, the reports, the inquiry events).
        cursor.execute("CREATE INDEX sharing_lookupentry_lookup_idx ON sharing_lookupentry (lookup_id, position)")
    table_distribute(
        connection,
        table="sharing_lookupentry",
        column="token",
        colocate_with="sharing_tokensummary",
        with_triggers=True,
    )


def undistribute(apps, schema_editor):
    connection = schema_editor.connection
    if not citus_present(connection):
        return
    table_undistribute(connection, table="sharing_lookupentry")
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX sharing_lookupentry_lookup_idx")
        cursor.execute("ALTER TABLE sharing_lookupentry DROP CONSTRAINT sharing_lookupentry_pkey")
        cursor.execute(
            "ALTER TABLE sharing_lookupentry ADD CONSTRAINT sharing_lookupentry_pkey "
            "PRIMARY KEY (lookup_id, position, created_at)"
        )
    table_undistribute(connection, table="sharing_protectivetoken")


class Migration(migrations.Migration):
    dependencies = [("sharing", "0034_citus_distribute_summaries_and_key_versions")]

    operations = [
        migrations.AddField(
            model_name="protectivetoken",
            name="registered_at",
            field=models.DateTimeField(null=True, verbose_name="registered at"),
        ),
        migrations.AddField(
            model_name="protectivetoken",
            name="in_force_until",
            field=models.DateTimeField(null=True, verbose_name="in force until"),
        ),
        migrations.RunSQL(_TIMES_COPY, migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="protectivetoken",
            name="registered_at",
            field=models.DateTimeField(verbose_name="registered at"),
        ),
        migrations.AlterField(
            model_name="protectivetoken",
            name="in_force_until",
            field=models.DateTimeField(verbose_name="in force until"),
        ),
        migrations.AlterField(
            model_name="protectivetoken",
            name="registration",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="tokens",
                to="sharing.protectiveregistration",
            ),
        ),
        migrations.RunPython(distribute, undistribute),
    ]

"""The watches', disputes' and subject reports' tokens beside the summaries, by token (on a Citus cluster).

Both databases: the three lose their database foreign key to their watch, dispute or report (which stay on
the coordinator: a token-keyed table cannot reference another key's); the services write both in one
transaction, and Django deletes the tokens with their parent. On a Citus cluster, then (a no-op on a plain
PostgreSQL), each is sharded by token, co-located with ``sharing_tokensummary``:

- ``sharing_watchtoken`` and ``sharing_disputetoken``: Citus wants the token in the primary key, so on the
  cluster the database's key is (token, watch_id, id_type) and (token, dispute_id, id_type), where a plain
  PostgreSQL keeps (watch_id, id_type) and (dispute_id, id_type), with an index on the old key for the reads
  by parent (a watch replaced or deleted, a dispute's identifiers); Django's keys are unchanged;
- ``sharing_subjectreporttoken``, whose key (report_id, token) already holds the token.

None has a trigger, and nothing inserts into them with an ``ON CONFLICT`` target. A token's summary, watches,
disputes and the person's own reports then sit on one shard (docs/design.md, "Distribution (Citus)").
Reversible.
"""

from django.db import migrations, models

from core.citus import citus_present, table_distribute, table_undistribute

# Table, its parent's column (the plain key is (parent, id_type)).
_REKEYED = (("sharing_watchtoken", "watch_id"), ("sharing_disputetoken", "dispute_id"))


def distribute(apps, schema_editor):
    connection = schema_editor.connection
    if not citus_present(connection):
        return
    with connection.cursor() as cursor:
        for table, parent in _REKEYED:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (token, {parent}, id_type)")
            # What the plain key served: the reads and deletes by the parent's id.
            cursor.execute(f"CREATE INDEX {table}_parent_idx ON {table} ({parent}, id_type)")
    for table in ("sharing_watchtoken", "sharing_disputetoken", "sharing_subjectreporttoken"):
        table_distribute(connection, table=table, column="token", colocate_with="sharing_tokensummary")


def undistribute(apps, schema_editor):
    connection = schema_editor.connection
    if not citus_present(connection):
        return
    for table in ("sharing_subjectreporttoken", "sharing_disputetoken", "sharing_watchtoken"):
        table_undistribute(connection, table=table)
    with connection.cursor() as cursor:
        for table, parent in _REKEYED:
            cursor.execute(f"DROP INDEX {table}_parent_idx")
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey")
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY ({parent}, id_type)")


class Migration(migrations.Migration):
    dependencies = [("sharing", "0035_lookup_log_and_protective_tokens_by_token")]

    operations = [
        migrations.AlterField(
            model_name="watchtoken",
            name="watch",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="tokens",
                to="sharing.watch",
            ),
        ),
        migrations.AlterField(
            model_name="disputetoken",
            name="dispute",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="tokens",
                to="sharing.dispute",
            ),
        ),
        migrations.AlterField(
            model_name="subjectreporttoken",
            name="report",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="tokens",
                to="sharing.subjectreport",
            ),
        ),
        migrations.RunPython(distribute, undistribute),
    ]

"""On a Citus cluster, the tables that distribute without a schema change: a no-op on a plain PostgreSQL.

- ``sharing_consortiumkey`` becomes a reference table: read by every submission and lookup, written a few
  times a year;
- ``sharing_tokensummary`` is sharded by its token, and ``sharing_dirtytoken`` (the matching jobs' queue of
  tokens whose summary is stale) beside it, so that a token's summary and its dirty mark sit on one shard.

None of the three has a trigger, a foreign key or an identity, and each one's key is its distribution column
(docs/design.md, "What today's schema still hits"). Reversible: the tables come back to the coordinator.
"""

from django.db import migrations

from core.citus import citus_present, table_distribute, table_replicate, table_undistribute


def distribute(apps, schema_editor):
    connection = schema_editor.connection
    if not citus_present(connection):
        return
    table_replicate(connection, table="sharing_consortiumkey")
    table_distribute(connection, table="sharing_tokensummary", column="token")
    table_distribute(connection, table="sharing_dirtytoken", column="token", colocate_with="sharing_tokensummary")


def undistribute(apps, schema_editor):
    connection = schema_editor.connection
    if not citus_present(connection):
        return
    for table in ("sharing_dirtytoken", "sharing_tokensummary", "sharing_consortiumkey"):
        table_undistribute(connection, table=table)


class Migration(migrations.Migration):
    dependencies = [("sharing", "0033_record_purge_indexes_summary_checks")]

    operations = [migrations.RunPython(distribute, undistribute)]

"""The audit trail partitioned by month of occurred_at, its rows moved in (core.partitions).

The database's primary key becomes (id, occurred_at), as a partitioned table requires; Django's stays id.
Reversible: the partitions become one plain table again, rows kept.
"""

from django.db import migrations

from core.partitions import table_partition_by_month, table_unpartition


def partition(apps, schema_editor):
    table_partition_by_month(
        schema_editor,
        table="members_auditevent",
        column="occurred_at",
        primary_key=["id", "occurred_at"],
        identity="id",
    )


def unpartition(apps, schema_editor):
    table_unpartition(schema_editor, table="members_auditevent", primary_key=["id"], identity="id")


class Migration(migrations.Migration):
    dependencies = [("members", "0009_audit_unchained_events_checkpoints")]

    operations = [migrations.RunPython(partition, unpartition)]

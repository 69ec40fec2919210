"""The lookup log (lookups and their entries) partitioned by month of created_at, rows moved in (core.partitions).

The primary keys gain created_at, as a partitioned table requires: (id, created_at) for lookups,
(lookup_id, position, created_at) for entries; Django's stay as they were (id; lookup_id and position).
Reversible: the partitions become plain tables again, rows kept.
"""

from django.db import migrations

from core.partitions import table_partition_by_month, table_unpartition


def partition(apps, schema_editor):
    table_partition_by_month(
        schema_editor, table="sharing_lookup", column="created_at", primary_key=["id", "created_at"], identity="id"
    )
    table_partition_by_month(
        schema_editor,
        table="sharing_lookupentry",
        column="created_at",
        primary_key=["lookup_id", "position", "created_at"],
    )


def unpartition(apps, schema_editor):
    table_unpartition(schema_editor, table="sharing_lookupentry", primary_key=["lookup_id", "position"])
    table_unpartition(schema_editor, table="sharing_lookup", primary_key=["id"], identity="id")


class Migration(migrations.Migration):
    dependencies = [("sharing", "0031_monitoring_event_types_relief_and_identity")]

    operations = [migrations.RunPython(partition, unpartition)]

import django.contrib.postgres.indexes
import django.db.models
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    # Built and dropped without blocking lookups; the new index exists before the old one goes.
    atomic = False

    dependencies = [
        ("sharing", "0009_token_summary_token_hash"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="lookupentry",
            index=django.contrib.postgres.indexes.HashIndex(
                condition=django.db.models.Q(("hit", True)), fields=["token"], name="lookup_entry_hit_token_hash"
            ),
        ),
        RemoveIndexConcurrently(
            model_name="lookupentry",
            name="lookup_entry_token_hash",
        ),
    ]

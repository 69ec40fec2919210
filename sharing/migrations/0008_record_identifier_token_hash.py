from django.contrib.postgres.indexes import HashIndex
from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    # Built and dropped without blocking submissions.
    atomic = False

    dependencies = [
        ("sharing", "0007_lookup_entry_indexes"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="recordidentifier",
            index=HashIndex(fields=["token"], name="record_identifier_token_hash"),
        ),
        RemoveIndexConcurrently(model_name="recordidentifier", name="record_identifier_token_idx"),
    ]

from django.contrib.postgres.indexes import HashIndex
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations


class Migration(migrations.Migration):
    # Built without blocking matching or lookups.
    atomic = False

    dependencies = [
        ("sharing", "0008_record_identifier_token_hash"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="tokensummary",
            index=HashIndex(fields=["token"], name="token_summary_token_hash"),
        ),
    ]

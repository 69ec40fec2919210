"""Each member's watch count from the watches it holds already (the triggers keep it from then on)."""

from django.db import migrations
from django.db.models import Count


def counts_fill(apps, schema_editor):
    Watch = apps.get_model("sharing", "Watch")
    MemberWatchCount = apps.get_model("sharing", "MemberWatchCount")
    for row in Watch.objects.values("member_id").annotate(watches=Count("id")).order_by("member_id"):
        MemberWatchCount.objects.update_or_create(member_id=row["member_id"], defaults={"watches": row["watches"]})


class Migration(migrations.Migration):
    dependencies = [("sharing", "0017_member_watch_counts_retention_indexes")]

    operations = [migrations.RunPython(counts_fill, migrations.RunPython.noop)]

"""Seal the member tokens already stored as sent: lookup answers and record_corrected alerts.

From this version on they are written sealed (sharing.tokens.sealing); this rewrites the earlier rows the
same way, so that no token as a member sent it stays readable in the database. Lookup rows are
append-only: their trigger is bypassed for this migration's own statements, as the retention
purge does.
"""

import pgtrigger
from django.db import migrations, models

from sharing.tokens.sealing import SEALED_ANSWER, answer_seal, identifiers_seal

CHUNK = 500


def seal_answers(apps, schema_editor):
    lookup_model = apps.get_model("sharing", "Lookup")
    last = 0
    with pgtrigger.ignore("sharing.Lookup:append_only"):
        while True:
            chunk = list(lookup_model.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "answer")[:CHUNK])
            if not chunk:
                return
            for pk, answer in chunk:
                answer = bytes(answer)
                if answer[:1] != SEALED_ANSWER:
                    lookup_model.objects.filter(pk=pk).update(answer=answer_seal(answer, lookup_id=pk))
            last = chunk[-1][0]


def seal_alert_identifiers(apps, schema_editor):
    alert_model = apps.get_model("sharing", "Alert")
    for alert in alert_model.objects.filter(kind="record_corrected", payload__has_key="identifiers").iterator():
        payload = dict(alert.payload)
        payload["identifiers_sealed"] = identifiers_seal(
            payload.pop("identifiers"), member_id=alert.member_id, lookup_id=payload["lookup_id"]
        )
        alert_model.objects.filter(pk=alert.pk).update(payload=payload)


class Migration(migrations.Migration):
    dependencies = [
        ("sharing", "0011_quota_refused_function"),
    ]

    operations = [
        migrations.AlterField(
            model_name="lookup",
            name="answer",
            field=models.BinaryField(
                help_text="The results exactly as they were answered, sealed: they hold the tokens as the member sent them.",
                verbose_name="answer",
            ),
        ),
        migrations.RunPython(seal_answers, migrations.RunPython.noop, elidable=True),
        migrations.RunPython(seal_alert_identifiers, migrations.RunPython.noop, elidable=True),
    ]

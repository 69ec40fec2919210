"""Every admin list and change page reads Chinese: no label left as its English message or a raw code."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.db import models
from django.urls import reverse

from core.clock import business_today
from members.audit import _ACTION_LABELS, audit_chain_verify, audit_event_record
from members.models import AuditEvent
from sharing.lookups.quotas import lookup_quota_set
from sharing.models import Dispute, MemberFlag, Report
from sharing.records.matching import summaries_drift_check
from sharing.reports.services import previous_month, report_generate
from sharing.tokens.identifiers import ID_TYPES
from tests.factories import OperatorFactory
from tests.sharing.conftest import blacklist, lookup, new_token, overdue, reported
from tests.sharing.disputes.test_disputes import file
from tests.test_translations import po_entries

# Words that are the same in Chinese text: names, standards and units.
PROPER_NOUNS = {"riskshare", "SHA-256", "USCC", "CNY", "API", "ID", "CIDR", "ZIP", "Django", "IP", "Axes"}
# Apps whose pages are Django's or django-axes' own (translated by their catalogues, not ours).
THEIRS = {"auth", "axes"}


class TextNodes(HTMLParser):
    """The text a person reads on a page: text nodes and button/placeholder/title attributes."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "textarea", "pre"):
            self._skip += 1
        for name, value in attrs:
            if value and (name in ("title", "placeholder", "aria-label") or (tag == "input" and name == "value")):
                if dict(attrs).get("type") in ("hidden", "text", "number", "password", "checkbox", "radio"):
                    continue
                self.texts.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style", "textarea", "pre"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def english_left(content: str, catalogue: dict[str, str], codes: set[str]) -> set[str]:
    parser = TextNodes()
    parser.feed(content)
    left = set()
    for text in parser.texts:
        bare = text.rstrip(":：").strip()
        english = catalogue.get(bare) or catalogue.get(bare[:1].lower() + bare[1:])
        if english is not None and english != bare and bare not in PROPER_NOUNS and re.search("[A-Za-z]{3}", bare):
            left.add(bare)
        if bare in codes:
            left.add(bare)
    return left


def raw_codes() -> set[str]:
    """Stored codes that must be shown by their labels: audit actions, choices, identifier types."""
    codes = set(_ACTION_LABELS) | set(ID_TYPES)
    for model_admin in admin.site._registry.values():
        for field in model_admin.model._meta.get_fields():
            if isinstance(field, models.Field) and field.choices:
                codes |= {str(value) for value, _label in field.flatchoices if "_" in str(value) or ":" in str(value)}
    return codes


@pytest.fixture
def everything(member_a, member_b, key_v1, settings):
    """At least one object of every model with an admin page, made the way members and operators make them."""
    token, other = new_token(), new_token()
    reported(member_b, [blacklist([token, other], reference="B-1"), overdue([token], reference="B-2")])
    reported(member_a, [blacklist(reference="A-1")])
    assert lookup(member_a, [token, new_token()]).status_code == 200
    assert lookup(member_a, [other], purpose="post_loan_monitoring", consent=None).status_code == 200
    assert file(member_a, [token], statement="本人声明").status_code == 201
    start, end = previous_month()
    report_generate(member=member_a.institution, period_start=start, period_end=end, actor=_system())
    audit_event_record(actor=_system(), action="audit.verified", payload={"ok": True})
    assert audit_chain_verify().ok  # an audit checkpoint
    summaries_drift_check(fix=False)  # a summary check
    MemberFlag.objects.create(member=member_a.institution, kind="enumeration", day=business_today(), detail={"n": 1})
    lookup_quota_set(actor=_system(), member=member_a.institution, requests_per_minute=10, identifiers_per_day=100)
    from sharing.evaluations.services import evaluation_limit_set

    evaluation_limit_set(actor=_system(), member=member_a.institution, evaluations_per_day=1000)
    from sharing.monitoring.services import endpoint_create
    from tests.sharing.monitoring.test_watches import put_watches, watch

    assert put_watches(member_b, [watch("LOAN-1", [token])]).status_code == 200
    settings.RISKSHARE_WEBHOOK_ALLOW_HOSTS = frozenset({"127.0.0.1"})
    endpoint_create(actor=_system(), member_id=member_b.institution.pk, url="https://127.0.0.1:9/hook", types=[])
    from tests.sharing.registers.test_partners import flag, register
    from tests.sharing.registers.test_policies import publish

    assert register(member_a).status_code == 201 and flag(member_b).status_code == 201
    assert publish(member_a).status_code == 201
    from members.history import hold_open, holds_release
    from sharing.protection.services import protective_register
    from sharing.subjects.identify import SubjectIdentifier
    from sharing.subjects.services import subject_report_issue
    from sharing.tokens.pepper import pepper_token

    hold_open("verifiable_log", recorded={"size": 9}, found={"size": 7})
    holds_release(kinds={"verifiable_log"}, actor=_system(), reason="restored the latest", payload={})
    protective_register(actor=_system(), tokens=[("cn_resident_id", pepper_token(token))], reason="stolen")
    subject_report_issue(
        actor=_system(),
        document_type="resident_id_card",
        check_reference="DESK-1",
        identifiers=[SubjectIdentifier("cn_resident_id", "110105********002X", {1: token})],
    )
    return Dispute.objects.get()


def _system():
    from members.audit import Actor

    return Actor.system("matching")


def test_every_admin_list_and_change_page_reads_chinese(client, everything):
    superuser = OperatorFactory(is_superuser=True)
    client.force_login(superuser)
    catalogue = {msgid.split("\x04")[-1]: msgstr for msgid, msgstr in po_entries().items()}
    # The reverse lookup: an English text maps to its translation (to tell "left in English" apart).
    english = {msgid: msgstr for msgid, msgstr in catalogue.items() if msgid != msgstr}
    codes = raw_codes()
    pages = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label in THEIRS:
            continue
        opts = model._meta
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
        first = model_admin.get_queryset(_request(superuser)).order_by("pk").first()
        assert first is not None, f"no {opts.label} to open: the fixture should make one"
        pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[first.pk]))
        if model_admin.has_add_permission(_request(superuser)):
            pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    pages += [
        reverse("admin:sharing_dispute_settle", args=[everything.pk]),
        reverse("admin:sharing_subject_search"),
        reverse("admin:sharing_report_generate"),
    ]
    found = {}
    for url in pages:
        response = client.get(url, headers={"accept-language": "zh-hans"})
        assert response.status_code == 200, url
        left = english_left(response.content.decode(), english, codes)
        if left:
            found[url] = sorted(left)
    assert found == {}
    assert Report.objects.exists() and AuditEvent.objects.filter(action="lookup.performed").exists()


def test_the_check_sees_english_left_in_a_page():
    catalogue = {"Settle disputes": "处理异议", "riskshare": "riskshare"}
    assert english_left("<p>Settle disputes</p><td>cn_mobile</td>", catalogue, {"cn_mobile"}) == {
        "Settle disputes",
        "cn_mobile",
    }
    assert english_left("<p>处理异议</p><p>riskshare</p>", catalogue, {"cn_mobile"}) == set()


def _request(user):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = user
    return request

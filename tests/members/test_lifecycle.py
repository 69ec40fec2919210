"""Member lifecycle: every legal move works and records who/when/why; every illegal one is refused."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from core.errors import DomainError, InvalidTransition
from members.audit import Actor
from members.models import AuditEvent, Institution, InstitutionTransition
from members.services import ALLOWED_TRANSITIONS, institution_create, institution_transition
from tests.factories import InstitutionFactory, make_uscc

Status = Institution.Status
ACTOR = Actor.system("tests")
LEGAL = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}


def test_the_designed_path_is_legal():
    path = [
        Status.APPLICANT,
        Status.UNDER_REVIEW,
        Status.ACTIVE,
        Status.SUSPENDED,
        Status.ACTIVE,
        Status.SUSPENDED,
        Status.WITHDRAWN,
    ]
    assert set(itertools.pairwise(path)) <= LEGAL


@pytest.mark.parametrize("from_status,to_status", sorted(LEGAL))
def test_legal_transition_is_recorded(db, from_status, to_status):
    institution = InstitutionFactory(status=from_status)
    moved = institution_transition(actor=ACTOR, institution=institution, to_status=to_status, reason="why not")
    assert moved.status == to_status
    institution.refresh_from_db()
    assert institution.status == to_status
    transition = InstitutionTransition.objects.get(institution=institution)
    assert (transition.from_status, transition.to_status, transition.reason, transition.actor_label) == (
        from_status,
        to_status,
        "why not",
        "tests",
    )
    event = AuditEvent.objects.get(action="institution.status_changed", object_id=str(institution.pk))
    assert event.payload == {"from": from_status, "to": to_status, "reason": "why not"}


@pytest.mark.parametrize(
    "from_status,to_status",
    sorted((a, b) for a in Status.values for b in Status.values if (a, b) not in LEGAL),
)
def test_illegal_transition_is_refused_and_changes_nothing(db, from_status, to_status):
    institution = InstitutionFactory(status=from_status)
    with pytest.raises(InvalidTransition):
        institution_transition(actor=ACTOR, institution=institution, to_status=to_status, reason="try")
    institution.refresh_from_db()
    assert institution.status == from_status
    assert not InstitutionTransition.objects.filter(institution=institution).exists()
    assert not AuditEvent.objects.filter(action="institution.status_changed").exists()


def test_reason_is_required(db):
    institution = InstitutionFactory(status=Status.ACTIVE)
    with pytest.raises(DomainError) as excinfo:
        institution_transition(actor=ACTOR, institution=institution, to_status=Status.SUSPENDED, reason="  ")
    assert excinfo.value.code == "reason_required"


def test_activation_needs_a_valid_licence(db):
    no_licence = InstitutionFactory(status=Status.UNDER_REVIEW, licence_number="", licence_expiry=None)
    with pytest.raises(DomainError) as excinfo:
        institution_transition(actor=ACTOR, institution=no_licence, to_status=Status.ACTIVE, reason="ok")
    assert excinfo.value.code == "licence_required"
    expired = InstitutionFactory(status=Status.UNDER_REVIEW, licence_expiry=dt.date(2020, 1, 1))
    with pytest.raises(DomainError) as excinfo:
        institution_transition(actor=ACTOR, institution=expired, to_status=Status.ACTIVE, reason="ok")
    assert excinfo.value.code == "licence_expired"


def test_activation_records_the_reviewer(db, operator):
    institution = InstitutionFactory(status=Status.UNDER_REVIEW)
    moved = institution_transition(
        actor=Actor.operator(operator),
        institution=institution,
        to_status=Status.ACTIVE,
        reason="ok",
        reviewer=operator,
    )
    assert moved.reviewed_by == operator and moved.reviewed_at is not None


def test_create_validates_uscc_and_refuses_duplicates(db):
    with pytest.raises(DomainError) as excinfo:
        institution_create(actor=ACTOR, name="Bad", uscc="91110000MA0000001X", kind="bank")
    assert excinfo.value.field == "uscc"
    uscc = make_uscc(424242)
    created = institution_create(actor=ACTOR, name="Good", uscc=uscc.lower(), kind="bank")
    assert created.uscc == uscc and created.status == Status.APPLICANT
    with pytest.raises(DomainError) as excinfo:
        institution_create(actor=ACTOR, name="Again", uscc=uscc, kind="bank")
    assert excinfo.value.code == "uscc_taken"
    assert Institution.objects.filter(uscc=uscc).count() == 1


def test_row_history_is_kept_by_database_triggers(db):
    institution = InstitutionFactory(status=Status.ACTIVE)
    # A bulk update bypasses model signals; the trigger still records it.
    Institution.objects.filter(pk=institution.pk).update(contact_name="Zhang San")
    events = list(institution.events.order_by("pgh_id").values_list("pgh_label", "contact_name"))
    assert events == [("insert", ""), ("update", "Zhang San")]

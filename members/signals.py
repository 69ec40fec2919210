"""Operator sign-ins and lock-outs go to the audit trail."""

from __future__ import annotations

from members.audit import Actor, audit_event_record


def operator_logged_in(sender, request, user, **kwargs) -> None:
    audit_event_record(actor=Actor.operator(user), action="operator.logged_in", payload={"address": _address(request)})


def operator_locked_out(sender, request, username, ip_address, **kwargs) -> None:
    # Nobody is signed in yet: the event names the username that was tried, never a password.
    audit_event_record(
        actor=Actor.system("django-axes"),
        action="operator.locked_out",
        payload={"username": str(username or "")[:150], "address": ip_address or ""},
    )


def _address(request) -> str:
    from members.authentication import client_address

    return client_address(request) if request is not None else ""

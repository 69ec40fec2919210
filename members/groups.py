"""The operator groups and the permissions each one carries."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

OPERATOR_GROUPS: dict[str, list[str]] = {
    # Member lifecycle: review applicants, activate, suspend, withdraw.
    "reviewer": [
        "sharing.view_batch",
        "sharing.view_lookupquota",
        "sharing.add_lookupquota",
        "sharing.change_lookupquota",
        "sharing.view_memberflag",
        "sharing.view_report",
        "sharing.generate_report",
        "members.view_institution",
        "members.add_institution",
        "members.change_institution",
        "members.review_institution",
        "members.view_institutiontransition",
        "members.view_credential",
    ],
    "credential_admin": [
        "members.view_institution",
        "members.view_credential",
        "members.add_credential",
        "members.issue_credential",
        "members.revoke_credential",
        "sharing.view_consortiumkey",
        "sharing.retire_consortiumkey",
    ],
    # The dispute queue: settle disputes within the statutory period, read the records they cover.
    "dispute_handler": [
        "sharing.view_dispute",
        "sharing.settle_dispute",
        "sharing.view_record",
        "sharing.view_alert",
        "members.view_institution",
    ],
    # Read-only access to the audit trail.
    "auditor": [
        "sharing.view_batch",
        "sharing.view_record",
        "sharing.view_dispute",
        "sharing.view_alert",
        "sharing.view_memberflag",
        "sharing.view_report",
        "members.view_auditevent",
        "members.view_institution",
        "members.view_institutiontransition",
        "members.view_credential",
    ],
}


def operator_groups_ensure(**kwargs) -> None:
    """(Re)build the groups once every permission they name exists.

    post_migrate is sent once per app, and each app's permissions are created in
    its own turn, so early calls may find some missing: they do nothing, and the
    call for the last app sets every group in full.
    """
    wanted = {tuple(dotted.split(".")) for codenames in OPERATOR_GROUPS.values() for dotted in codenames}
    existing = {
        (app_label, codename): permission
        for permission in Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted}
        ).select_related("content_type")
        for app_label, codename in [(permission.content_type.app_label, permission.codename)]
    }
    if not wanted <= existing.keys():
        return
    for name, codenames in OPERATOR_GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set([existing[tuple(dotted.split("."))] for dotted in codenames])

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
    # Read-only access to the audit trail.
    "auditor": [
        "sharing.view_batch",
        "sharing.view_memberflag",
        "members.view_auditevent",
        "members.view_institution",
        "members.view_institutiontransition",
        "members.view_credential",
    ],
}


def operator_groups_ensure(**kwargs) -> None:
    apps_with_permissions = {dotted.split(".")[0] for codenames in OPERATOR_GROUPS.values() for dotted in codenames}
    # post_migrate runs once per app; wait until every app's permissions exist.
    if Permission.objects.filter(content_type__app_label__in=apps_with_permissions).values(
        "content_type__app_label"
    ).distinct().count() < len(apps_with_permissions):
        return
    for name, codenames in OPERATOR_GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        permissions = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            permissions.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(permissions)

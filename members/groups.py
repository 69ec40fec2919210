"""The operator groups and the permissions each one carries."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.models import Group, Permission

# The groups and what members itself lets each do; every other app adds its own permissions to them
# through its AppConfig (``operator_group_permissions``), so that members never names another app.
MEMBERS_GROUP_PERMISSIONS: dict[str, list[str]] = {
    # Member lifecycle: review applicants, activate, suspend, withdraw.
    "reviewer": [
        "view_institution",
        "add_institution",
        "change_institution",
        "review_institution",
        "view_institutiontransition",
        "view_credential",
    ],
    "credential_admin": [
        "view_institution",
        "view_credential",
        "add_credential",
        "issue_credential",
        "revoke_credential",
    ],
    # The dispute queue: settle disputes within the statutory period, read the records they cover.
    "dispute_handler": [
        "view_institution",
    ],
    # Read-only access to the audit trail.
    "auditor": [
        "view_auditevent",
        "view_historyhold",
        "view_institution",
        "view_institutiontransition",
        "view_credential",
    ],
}


def operator_groups() -> dict[str, list[str]]:
    """Every operator group with the permissions (``app_label.codename``) the installed apps give it."""
    groups = {
        name: [f"members.{codename}" for codename in codenames] for name, codenames in MEMBERS_GROUP_PERMISSIONS.items()
    }
    for config in apps.get_app_configs():
        if config.label == "members":
            continue
        for name, codenames in getattr(config, "operator_group_permissions", {}).items():
            groups.setdefault(name, []).extend(f"{config.label}.{codename}" for codename in codenames)
    return groups


def operator_groups_ensure(**kwargs) -> None:
    """(Re)build the groups once every permission they name exists.

    post_migrate is sent once per app, and each app's permissions are created in
    its own turn, so early calls may find some missing: they do nothing, and the
    call for the last app sets every group in full.
    """
    groups = operator_groups()
    wanted = {tuple(dotted.split(".")) for codenames in groups.values() for dotted in codenames}
    existing = {
        (app_label, codename): permission
        for permission in Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted}
        ).select_related("content_type")
        for app_label, codename in [(permission.content_type.app_label, permission.codename)]
    }
    if not wanted <= existing.keys():
        return
    for name, codenames in groups.items():
        group, _created = Group.objects.get_or_create(name=name)
        group.permissions.set([existing[tuple(dotted.split("."))] for dotted in codenames])

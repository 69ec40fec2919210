"""The verifiable log of record changes: leaves, the tiles of its tree, its signed checkpoints.

See sharing/tlog (hashing, formats) and docs/transparency-log.md (what a leaf commits to).
"""

from __future__ import annotations

import pgtrigger
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from sharing.tlog import leaf


def log_salt_field(**kwargs) -> models.BinaryField:
    """What keys a row's digests in the log: 16 random bytes (gen_random_uuid: 122 of them random) drawn by
    the database on insert, so that no write needs to send a value; deleting the row deletes it."""
    return models.BinaryField(
        _("log salt"),
        max_length=16,
        db_default=models.Func(models.Func(function="gen_random_uuid"), function="uuid_send"),
        editable=False,
        **kwargs,
    )


class LogChange(models.TextChoices):
    REPORTED = leaf.REPORTED, _("Reported")
    UPDATED = leaf.UPDATED, _("Updated")
    RESOLVED = leaf.RESOLVED, _("Resolved")
    RETRACTED = leaf.RETRACTED, _("Retracted")
    DISPUTED = leaf.DISPUTED, _("Disputed")
    DISPUTE_SETTLED = leaf.DISPUTE_SETTLED, _("Dispute settled")
    PURGED = leaf.PURGED, _("Purged")
    PARTNER_ADDED = leaf.PARTNER_ADDED, _("Partner registered")
    PARTNER_UPDATED = leaf.PARTNER_UPDATED, _("Partner entry updated")
    PARTNER_EXITED = leaf.PARTNER_EXITED, _("Partnership ended")
    FLAG_FILED = leaf.FLAG_FILED, _("Partner flagged")
    FLAG_ANSWERED = leaf.FLAG_ANSWERED, _("Partner's answer to a flag relayed")
    FLAG_REVIEWED = leaf.FLAG_REVIEWED, _("Partner flag reviewed")
    POLICY_PUBLISHED = leaf.POLICY_PUBLISHED, _("Risk-policy card published")


class LogPending(models.Model):
    """The leaves of one write, not sequenced yet: written in the change's transaction, one row for all of
    them (a batch slice's 2,500 leaves are one insert), taken apart into ``LogLeaf`` rows by the sequencer.

    A rolled-back change takes its row with it, so indices have no gaps. Per leaf, in the order of the
    change: ``kinds``, ``members`` and ``records`` comma-separated (empty for none), ``digests`` 64
    bytes (reference digest, record digest).
    """

    leaves = models.PositiveIntegerField(_("leaves"))
    kinds = models.TextField(_("changes"))
    members = models.TextField(_("members"))
    records = models.TextField(_("records"))
    batch_id = models.BigIntegerField(_("batch"), null=True)
    digests = models.BinaryField(_("digests"))
    created_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("pending log leaves")
        verbose_name_plural = _("pending log leaves")
        indexes = [
            models.Index(fields=["batch_id"], condition=models.Q(batch_id__isnull=False), name="log_pending_batch_idx"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(leaves__gte=1), name="log_pending_not_empty")]

    def __str__(self) -> str:
        return gettext("%(leaves)s pending leaves") % {"leaves": self.leaves}


class LogLeaf(models.Model):
    """One record change at its place in the tree: written by the sequencer from ``LogPending``, with its
    index and hash, and never changed after (trigger)."""

    index = models.BigIntegerField(_("log index"), unique=True)
    kind = models.CharField(_("change"), max_length=16, choices=LogChange.choices)
    member = models.ForeignKey(
        "members.Institution",
        verbose_name=_("member"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        related_name="+",
        help_text=_("Who sent the change; empty for the platform's own (disputes, purges)."),
    )
    record_id = models.BigIntegerField(_("record"), null=True, help_text=_("The record changed; kept after a purge."))
    batch_id = models.BigIntegerField(_("batch"), null=True)
    reference_digest = models.BinaryField(_("reference digest"), max_length=32)
    record_digest = models.BinaryField(_("record digest"), max_length=32)
    created_at = models.DateTimeField(_("changed at"), default=timezone.now)
    leaf_hash = models.BinaryField(_("leaf hash"), max_length=32)

    class Meta:
        verbose_name = _("log leaf")
        verbose_name_plural = _("log leaves")
        indexes = [
            models.Index(fields=["batch_id"], condition=models.Q(batch_id__isnull=False), name="log_leaf_batch_idx"),
            models.Index(fields=["record_id", "index"], name="log_leaf_record_idx"),
        ]
        triggers = [
            pgtrigger.Protect(name="append_only_delete", operation=pgtrigger.Delete),
            # Nothing a leaf's hash covers moves (the record and batch ids are bookkeeping beside it).
            pgtrigger.Protect(
                name="append_only_update",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__index__df=pgtrigger.F("new__index"))
                | pgtrigger.Q(old__kind__df=pgtrigger.F("new__kind"))
                | pgtrigger.Q(old__member_id__df=pgtrigger.F("new__member_id"))
                | pgtrigger.Q(old__reference_digest__df=pgtrigger.F("new__reference_digest"))
                | pgtrigger.Q(old__record_digest__df=pgtrigger.F("new__record_digest"))
                | pgtrigger.Q(old__created_at__df=pgtrigger.F("new__created_at"))
                | pgtrigger.Q(old__leaf_hash__df=pgtrigger.F("new__leaf_hash")),
            ),
        ]

    def __str__(self) -> str:
        return gettext("leaf %(index)s (%(kind)s)") % {"index": self.index, "kind": self.get_kind_display()}


class LogTile(models.Model):
    """A C2SP tlog-tiles tile: up to 256 node hashes of height 8·level, concatenated."""

    pk = models.CompositePrimaryKey("level", "index")
    level = models.PositiveSmallIntegerField(_("level"))
    index = models.BigIntegerField(_("index"))
    hashes = models.BinaryField(_("hashes"))

    class Meta:
        verbose_name = _("log tile")
        verbose_name_plural = _("log tiles")

    def __str__(self) -> str:
        return gettext("tile %(level)s/%(index)s") % {"level": self.level, "index": self.index}


class LogState(models.Model):
    """The one row the sequencer locks: how many leaves are sequenced, and the root over them."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(_("tree size"), default=0)
    root = models.BinaryField(_("root hash"), max_length=32)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("log state")
        verbose_name_plural = _("log state")
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="log_state_single_row")]

    def __str__(self) -> str:
        return gettext("log of %(size)s leaves") % {"size": self.size}


class LogCheckpoint(models.Model):
    """A signed tree head (C2SP tlog-checkpoint in a signed note); one per tree size."""

    size = models.BigIntegerField(_("tree size"), unique=True)
    root = models.BinaryField(_("root hash"), max_length=32)
    note = models.TextField(_("signed note"))
    created_at = models.DateTimeField(_("signed at"), default=timezone.now)

    class Meta:
        verbose_name = _("log checkpoint")
        verbose_name_plural = _("log checkpoints")
        ordering = ["-size"]
        triggers = [pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return gettext("checkpoint at %(size)s") % {"size": self.size}

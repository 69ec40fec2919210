"""Disputes: a member contests records about a person; the reporting members settle them in time.

Owns ``sharing_dispute``, ``sharing_disputedrecord``, ``sharing_disputetoken``. Imports the packages up to
``lookups`` (the lookups that relied on a corrected record are told). Tells later packages through
``signals.dispute_changed`` (monitoring's dispute events).
"""

"""Lookups: answers from the summaries, the lookup log, quotas, request-rate limits, enumeration flags.

Owns ``sharing_lookup``, ``sharing_lookupentry``, ``sharing_lookupquota``, ``sharing_lookuptally``,
``sharing_quotausage``, ``sharing_quotarefusal``, ``sharing_memberflag``. Imports the packages up to
``records``.
"""

"""The governance registers: the partner registry (licences, flags, profiles) and risk-policy cards.

Owns ``sharing_partner``, ``sharing_partnerlicence``, ``sharing_partnerflag``, ``sharing_policycard``.
Imports ``common``, ``tokens``, ``tlog`` (their changes are log leaves) and ``alerts``. Its partner profile
reads ``sharing_record`` (a read model over facts; allowed in tests/test_layout.py).
"""

"""Identifiers and their tokens: canonicalization, the consortium key file, peppering, sealing, key versions.

Owns ``sharing_consortiumkey``. Imports ``common``. ``identifiers`` and ``keyfile`` are Django-free: the
member's CLI tokenizes with them.
"""

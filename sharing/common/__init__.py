"""What every package shares, with no domain in it: contracts' machinery, API plumbing, the error
catalogue, the platform's Ed25519 signing keys.

Owns no table. Imports ``core`` and ``members`` only. ``crypto`` is Django-free (the CLI uses it).
"""

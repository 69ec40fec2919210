"""Self-inspection reports: sections, peer comparison, the signed ZIP and its verification.

Owns ``sharing_report``. Imports every package below it. ``verify`` imports nothing of Django: the member's
command-line client uses it on machines without the platform's settings.
"""

"""Post-loan monitoring: watches on a member's own borrowers, the events other members' changes raise, and
their delivery by feed and signed webhooks.

Owns ``sharing_watch``, ``sharing_watchtoken``, ``sharing_memberwatchcount``, ``sharing_monitoringevent``,
``sharing_webhookendpoint``, ``sharing_webhookdelivery``. Imports the packages up to ``disputes``, and hears
records' and disputes' changes through their signals (``receivers``).
"""

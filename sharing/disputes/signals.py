"""What disputes tell the packages above them (monitoring), without knowing they exist.

``dispute_changed`` is sent inside the dispute's transaction with ``dispute_id``, ``type``
(``dispute.opened`` or ``dispute.settled``) and ``outcome`` (None when opened). ``Signal.send``, so a
receiver's failure rolls the dispute back.

Receivers: ``sharing.monitoring.receivers.watch_events_on_dispute``.
"""

from django.dispatch import Signal

dispute_changed = Signal()

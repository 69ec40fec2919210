"""What records tell the packages above them (monitoring), without knowing they exist.

``summaries_recomputed`` is sent inside the transaction that recomputed the summaries of some tokens,
after their matching range locks, with ``tokens`` (the 32-byte peppered tokens joined into one bytes).
Receivers run in that transaction: ``Signal.send`` (not ``send_robust``), so that a receiver's
failure rolls the recomputation back and the matching job retries both together.

Receivers: ``sharing.monitoring.receivers.watch_events_on_summaries`` (the watches' events, exactly once).
"""

from django.dispatch import Signal

summaries_recomputed = Signal()

"""What protective registration tells the packages above it (monitoring), without knowing they exist.

``registration_made`` is sent inside the transaction that made a registration, with its id; the receiver
(``sharing.monitoring.receivers``) gives every other member's watch on those tokens an ``identity.at_risk``
event, in that transaction.
"""

from django.dispatch import Signal

registration_made = Signal()

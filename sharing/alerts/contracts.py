"""The body of an alert acknowledgement."""

from __future__ import annotations

import msgspec

from sharing.common.contracts import Contract


class AcknowledgeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """No fields: send no body, or ``{}``."""


ACKNOWLEDGE = Contract(AcknowledgeRequest, examples={"Nothing to say": {}}, optional=True)

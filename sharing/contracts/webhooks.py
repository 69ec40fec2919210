"""POST /api/v1/webhook-endpoints and POST /api/v1/webhook-endpoints/{id}/replay."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from django.utils.translation import gettext_noop

from sharing.contracts.base import Contract
from sharing.models import MonitoringEvent

MAX_URL = 2_000
MAX_EVENT_ID = 2**63 - 1


class WebhookEndpointRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Where to receive your monitoring events, and which types; the answer shows the signing secret once."""

    url: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_URL,
            description=gettext_noop(
                "https only; its host may not resolve to a loopback, private, link-local or reserved address."
            ),
        ),
    ]
    types: Annotated[
        list[Literal[tuple(MonitoringEvent.Type.values)]],
        msgspec.Meta(description=gettext_noop("The event types to send; none (or an empty list): every type.")),
    ] = msgspec.UNSET


def endpoint_types(request: WebhookEndpointRequest) -> list[str]:
    return [] if request.types is msgspec.UNSET else list(request.types)


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Send again every event after this id (dead letters included), and make the endpoint active again."""

    after: Annotated[
        int, msgspec.Meta(ge=0, le=MAX_EVENT_ID, description=gettext_noop("An event id; 0 for every event."))
    ]


WEBHOOK_ENDPOINT = Contract(
    WebhookEndpointRequest,
    examples={
        "Every event type": {"url": "https://hooks.lender.example/riskshare"},
        "Delinquencies and new records only": {
            "url": "https://hooks.lender.example/riskshare",
            "types": ["record.reported", "delinquency.escalated"],
        },
    },
)

REPLAY = Contract(ReplayRequest, examples={"Everything after event 1200": {"after": 1200}})

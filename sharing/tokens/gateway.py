"""The web process's way to the token evaluator (``evaluator.py``): the socket named in the settings, no seed."""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import Unavailable
from sharing.tokens.evaluator_wire import EvaluatorClient, EvaluatorUnavailable

# Seconds a client is told to wait when the evaluator is down (a restart takes about one).
RETRY_AFTER = 5


@functools.cache
def _client(path: str) -> EvaluatorClient:
    return EvaluatorClient(path)


def evaluator() -> EvaluatorClient:
    return _client(settings.RISKSHARE_EVALUATOR_SOCKET)


def unavailable(exc: EvaluatorUnavailable) -> Unavailable:
    return Unavailable(
        _("The token evaluator cannot be reached; retry after the time given in Retry-After."),
        retry_after=RETRY_AFTER,
        code="evaluator_unavailable",
    )

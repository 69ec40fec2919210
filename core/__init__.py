"""Shared machinery of riskshare's apps: database transport, clock, domain errors, API plumbing.

``config/`` holds configuration only (settings, URLs, the Celery app, WSGI/ASGI); what the apps
import lives here. ``core`` depends on Django and DRF, never on ``members`` or ``sharing``.
"""

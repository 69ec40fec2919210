from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared machinery; an app only so that its management commands (``devdb``) are found. No models."""

    name = "core"
    verbose_name = "riskshare core"

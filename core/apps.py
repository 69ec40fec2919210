from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared machinery; an app only so that its management commands (``devdb``) are found. No models."""

    name = "core"
    verbose_name = "riskshare core"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from core.middleware import request_id_clear

        request_finished.connect(request_id_clear, dispatch_uid="core.request_id_clear")

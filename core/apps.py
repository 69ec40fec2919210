from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared machinery; an app so that its management commands (``devdb``) and tasks are found. No models."""

    name = "core"
    verbose_name = "riskshare core"

    def ready(self) -> None:
        from django.core.signals import request_finished
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from core.citus import connection_plans_adapt
        from core.middleware import request_id_clear

        request_finished.connect(request_id_clear, dispatch_uid="core.request_id_clear")
        connection_created.connect(connection_plans_adapt, dispatch_uid="core.connection_plans_adapt")
        # A fresh install (and every upgrade) has its months ahead before the first request, not at the first
        # hourly run.
        post_migrate.connect(_partitions_ensure, dispatch_uid="core.partitions_ensure")


def _partitions_ensure(sender, apps=None, using="default", plan=None, **kwargs) -> None:
    from django.apps import apps as registry

    from core.partitions import partitions_ensure

    # post_migrate is sent once per app with models, all after the migrations: act on the last one only.
    if sender is not [config for config in registry.get_app_configs() if config.models_module][-1]:
        return
    # Only after migrating forwards: a migration back may have just turned a partitioned table plain.
    if plan and all(backwards for _migration, backwards in plan):
        return
    partitions_ensure()

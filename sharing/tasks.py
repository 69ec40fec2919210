"""Every package's Celery tasks, imported so that each process registers them.

Services enqueue jobs by name (``core.jobs``), so the tasks must be registered in every process that
enqueues, not only in workers: ``SharingConfig.ready`` imports this module. The tasks themselves live
in their package's ``tasks`` module; a package with tasks adds one line here.
"""

from sharing.disputes import tasks as disputes_tasks  # noqa: F401
from sharing.lookups import tasks as lookups_tasks  # noqa: F401
from sharing.monitoring import tasks as monitoring_tasks  # noqa: F401
from sharing.records import tasks as records_tasks  # noqa: F401
from sharing.registers import tasks as registers_tasks  # noqa: F401
from sharing.reports import tasks as reports_tasks  # noqa: F401
from sharing.retention import tasks as retention_tasks  # noqa: F401
from sharing.tlog import tasks as tlog_tasks  # noqa: F401

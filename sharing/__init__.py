"""What is shared: one Django app (label ``sharing``), organised as domain packages in one dependency order.

Lowest first; each package imports only the packages before it (and ``core``, ``members``)::

    common, tokens, tlog, alerts, registers, records, lookups, disputes, monitoring, retention, reports, desk

Every package has the same role modules, only those it needs: ``models`` (tables), ``contracts`` (request
bodies), ``services`` (writes), ``selectors`` (reads), ``apis`` (DRF views), ``admin`` (operator screens and
their audit labels), ``tasks`` (Celery entry points), ``signals`` (what a later package may listen to).
Where a lower package must tell a higher one, it sends a signal (``records.signals``, ``disputes.signals``)
that the higher one connects in its ``receivers``.

The modules directly in ``sharing/`` compose the packages and hold nothing of their own: ``models`` (the
registry's aggregator; package code imports the owning package's models instead), ``urls`` (the one route
table), ``admin`` and ``tasks`` (import each package's, so that they register), ``apps`` (the operator
permission matrix), ``management/commands``. ``cli`` is the member's client: Django-free modules only.
``tests/test_layout.py`` holds the order, the tables each package's SQL may name, and the Django-free client.
"""

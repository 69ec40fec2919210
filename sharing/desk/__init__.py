"""The operators' desk across packages: the dashboard, the subject search, the metrics endpoint's collector.

Owns no table. Imports every package below it.
"""

"""Retention: what is due to be purged, and the daily purge of records, lookups and monitoring data.

Owns no table; deletes from the packages below it, which it may import.
"""

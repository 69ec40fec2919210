"""The member's inbox: alerts written by disputes, monitoring and the registers, read through the API.

Owns ``sharing_alert``. Imports ``common`` and ``tokens``; the packages that raise alerts import it.
"""

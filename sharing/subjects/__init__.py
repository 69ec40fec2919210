"""The data subject's own report (本人查询): what the platform holds about a person, issued at the desk.

Above every package it reads (records, lookups, disputes, monitoring, protection); the desk screens it.
``verify`` is the Django-free checker a person's adviser or a court runs on the signed JSON document.
"""

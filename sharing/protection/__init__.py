"""Protective registration: a person's identifiers marked *at risk* after their identity was misused.

Lookups of those tokens answer ``identity_at_risk`` (since when, never by whom); it is a protective mark
about the person, never adverse information: it is no record and counts in no summary.
"""

"""Token evaluations (v2): the platform's VOPRF evaluation API, metered per member and audited.

Above records, lookups and monitoring in the packages' order: the meter measures evaluations against the tokens
a member actually used in them.
"""

"""Member API of sharing, one module per resource: records, lookups, disputes and alerts, reports."""

"""Post-loan monitoring: events from the matching jobs and disputes, and their delivery."""

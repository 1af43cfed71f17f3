"""APScheduler 3 wiring and the recurring jobs (SLA sweep, digest, monthly report)."""

"""SLA: due times (the one SlaPolicy), the sweep, alerts, the digest, auto-close, the calendar."""

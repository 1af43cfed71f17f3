"""The pipeline: intake (source -> spool), process (spool -> tickets), sender (outbox -> SMTP)."""

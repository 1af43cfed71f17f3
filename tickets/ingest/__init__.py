"""Ingest: a spooled message becomes a ticket, a follow-up, or a recorded refusal."""

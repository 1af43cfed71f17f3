"""Outbox: the one writer of outgoing mail, and the sender's claims and outcomes."""

"""Locks that keep several workers from running the same job at once."""

import zlib

from sqlalchemy import text
from sqlmodel import Session


def lock_key(name: str) -> int:
    """A stable signed 32-bit advisory lock key for a job name."""
    return zlib.crc32(f"ventanilla:{name}".encode()) - 2**31


def try_job_lock(session: Session, name: str) -> bool:
    """Take the job's lock for the rest of the transaction; False when another worker holds it.

    PostgreSQL: pg_try_advisory_xact_lock, released at commit or rollback, keyed by the schema
    too: advisory locks belong to the whole database, and two helpdesks (or test runs) in two
    schemas of one database must not wait for each other. SQLite: the
    transaction already began with BEGIN IMMEDIATE, which serialises writers, so there is
    nothing more to take (and one SQLite file serves one worker).
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    statement = text("SELECT pg_try_advisory_xact_lock(hashtext(current_schema()), :key)")
    return bool(session.scalar(statement, {"key": lock_key(name)}))

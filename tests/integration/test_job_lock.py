"""The job lock (PostgreSQL advisory lock): one holder per job and schema; a helpdesk in another
schema of the same database is never held up by it."""

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session

from scheduler.locking import try_job_lock
from tests.dbhelpers import pg_schema


def test_one_holder_per_job_and_schema(postgres_ok: bool) -> None:
    if not postgres_ok:
        pytest.skip("advisory locks: PostgreSQL")
    with pg_schema("lock_a") as url_a, pg_schema("lock_b") as url_b:
        a, b = create_engine(url_a), create_engine(url_b)
        try:
            with Session(a) as first, Session(a) as second, Session(b) as other:
                assert try_job_lock(first, "sla-sweep")
                assert not try_job_lock(second, "sla-sweep"), "two holders of one job in one schema"
                assert try_job_lock(second, "sla-digest"), "another job is free"
                assert try_job_lock(other, "sla-sweep"), "another schema waited for this one's lock"
                first.rollback()  # released with the transaction
                assert try_job_lock(second, "sla-sweep"), "the lock outlived its transaction"
        finally:
            a.dispose()
            b.dispose()

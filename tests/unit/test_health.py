"""The health verdict (one pure function) and the status as people read it: table-driven."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.metrics import split_listen
from config.settings import Settings
from tickets.status.facts import Health, HealthPolicy, StatusFacts, judge_health
from ventanilla.status_cli import ago, render_status, status_json

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
POLICY = HealthPolicy(poll_seconds=30, max_outbox_age_seconds=900)


def facts(**overrides: object) -> StatusFacts:
    values: dict[str, object] = {"now": NOW, "mailbox": "support", "polled_at": NOW - timedelta(seconds=10)}
    values.update(overrides)
    return StatusFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "ok", "reason"),
    [
        (facts(), True, ""),
        (facts(polled_at=NOW - timedelta(seconds=90)), True, ""),  # exactly 3 x 30 s: still fine
        (facts(polled_at=NOW - timedelta(seconds=91)), False, "mailbox support: last read 91 s ago (limit 90 s)"),
        (facts(polled_at=None), False, "mailbox support: never read successfully"),
        # Mail queued long ago but waiting for its retry time is not late; mail due and not sent is.
        (facts(oldest_queued_at=NOW - timedelta(hours=5)), True, ""),
        (facts(oldest_due_at=NOW - timedelta(seconds=900)), True, ""),
        (
            facts(oldest_due_at=NOW - timedelta(seconds=901)),
            False,
            "outbox: a due message has waited 901 s (limit 900 s)",
        ),
        (
            facts(polled_at=None, oldest_due_at=NOW - timedelta(hours=1)),
            False,
            "mailbox support: never read successfully; outbox: a due message has waited 3600 s (limit 900 s)",
        ),
    ],
)
def test_health_is_decided_from_the_facts_alone(given: StatusFacts, ok: bool, reason: str) -> None:
    assert judge_health(given, POLICY) == Health(ok=ok, reason=reason)


def test_no_facts_means_the_database_did_not_answer() -> None:
    health = judge_health(None, POLICY, database_error="connection refused")
    assert health == Health(ok=False, reason="database: connection refused")
    assert health.as_dict() == {"status": "unhealthy", "reason": "database: connection refused"}
    assert judge_health(facts(), POLICY).as_dict() == {"status": "ok"}


def test_a_short_poll_interval_does_not_make_one_slow_pass_look_down() -> None:
    quick = HealthPolicy(poll_seconds=1)
    assert quick.max_poll_age == timedelta(seconds=30)
    assert judge_health(facts(polled_at=NOW - timedelta(seconds=29)), quick).ok
    assert not judge_health(facts(polled_at=NOW - timedelta(seconds=31)), quick).ok


def test_spool_depth_counts_new_and_failed_receipts() -> None:
    given = facts(receipts={"received": 3, "failed": 2, "quarantined": 4, "ticketed": 100})
    assert (given.spool_depth, given.quarantined) == (5, 4)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0 s"), (119, "119 s"), (120, "2 min"), (7199, "120 min"), (7200, "2.0 h"),
                          (172800, "2.0 days"), (-5, "0 s")],
)
def test_durations_read_for_people(seconds: float, text: str) -> None:
    assert ago(timedelta(seconds=seconds)) == text


def test_status_lines_fit_80_columns_and_name_the_zone() -> None:
    zone = ZoneInfo("Europe/Madrid")
    given = facts(
        mailbox="support-" + "x" * 100,
        lease_owner="host.example:12345:1700000000",
        receipts={"received": 2, "failed": 1, "quarantined": 1},
        outbox={"queued": 4, "sent": 10, "failed": 1},
        oldest_queued_at=NOW - timedelta(minutes=30),
        oldest_due_at=NOW - timedelta(minutes=20),
        tickets={"open": 3, "closed": 9},
        sla_alerts={"breach-24h": 1, "warn-24h": 2},
        sla_nearing=1,
        sla_past=2,
    )
    health = judge_health(given, POLICY)
    lines = render_status(given, health, zone)
    assert all(len(line) <= 80 for line in lines), [len(line) for line in lines]
    text = "\n".join(lines)
    assert "2026-10-05 11:00:00 CEST (Europe/Madrid)" in text  # 09:00 UTC in the service's zone
    assert "UNHEALTHY: outbox: a due message has waited 1200 s" in text
    assert "3 waiting (2 new, 1 to retry), 1 quarantined" in text
    assert "4 queued, oldest 30 min old; 10 sent, 1 failed" in text
    assert "3 open, 9 closed" in text and "2 warn-24h, 1 breach-24h" in text
    assert "1 nearing the response due time, 2 past it" in text


def test_status_json_keeps_iso_times_with_their_offset() -> None:
    zone = ZoneInfo("Europe/Madrid")
    given = facts(outbox={"queued": 1}, oldest_queued_at=NOW - timedelta(minutes=5))
    out = status_json(given, judge_health(given, POLICY), zone)
    assert out["now"] == "2026-10-05T11:00:00+02:00" and out["timezone"] == "Europe/Madrid"
    assert out["mailbox"] == {"name": "support", "last_poll": "2026-10-05T10:59:50+02:00", "reader": None}
    assert out["outbox"]["oldest_queued_age_seconds"] == 300.0  # type: ignore[index]
    assert out["health"] == {"status": "ok"}


@pytest.mark.parametrize(
    ("listen", "expected"),
    [("127.0.0.1:9464", ("127.0.0.1", 9464)), ("[::1]:0", ("::1", 0)), ("0.0.0.0:80", ("0.0.0.0", 80))],
)
def test_listen_addresses(listen: str, expected: tuple[str, int]) -> None:
    assert split_listen(listen) == expected


@pytest.mark.parametrize("listen", ["9464", "localhost", ":9464", "127.0.0.1:http", "127.0.0.1:70000"])
def test_a_bad_listen_address_is_refused_naming_it(listen: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        Settings(metrics={"listen": listen})  # type: ignore[arg-type]


def test_metrics_are_off_by_default_and_the_outbox_limit_is_900_s() -> None:
    settings = Settings()
    assert settings.metrics.listen == "" and settings.metrics.max_outbox_age_seconds == 900

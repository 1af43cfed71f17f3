"""Routing, round-robin with absences, the collision guard and canned replies, end to end (issue 14).

The real Dovecot support mailbox in, the real aiosmtpd sink out, on SQLite and PostgreSQL, with
the helpers of test_agent_round_trip: mail arrives, `make_poller(...).run_once()` takes it,
`make_drainer(...).run_once()` sends what it caused, and agents answer the bytes the sink got.
`ventanilla agents ...` and `ventanilla tickets reply --macro` run in process on the same database.
"""

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

import ventanilla.cli  # noqa: F401  (adds the agents' commands to `tickets`)
from config.agents import AgentGroup, AgentSettings
from config.settings import HelpdeskSettings, OutboundSettings, TemplatesSettings, load_settings
from tests.integration.test_agent_round_trip import (
    ANA,
    LUIS,
    MARIA,
    SUPERVISOR,
    T0,
    Desk,
    answer_part,
    event_kinds,
    kind_of,
    new_mail,
    only,
    plain,
    press_reply,
    show,
    ticket_ids,
    to,
)
from ventanilla.agents_cli import app as agents_app
from ventanilla.context import AppContext
from ventanilla.tickets_cli import app as tickets_app

PACO = "paco@ventanilla.example"
EXPORT = "No puedo exportar mi certificado desde Firefox."
CERTS = AgentGroup(name="certificados", members=[ANA, LUIS, PACO], categories=["export-import"])


@pytest.fixture
def new_desk(dovecot, imap_settings, smtp_sink, make_settings, db_url, engine, clock):  # type: ignore[no-untyped-def]
    """Factory: a desk whose helpdesk has three agents and the given `[agents]` (and other sections)."""

    def make(agents: AgentSettings, **sections: object) -> Desk:
        port = smtp_sink.port
        outbound = OutboundSettings(kind="smtp", host="127.0.0.1", port=port, security="none", timeout_seconds=5)
        base = load_settings(None)[0].helpdesk
        helpdesk = HelpdeskSettings(**{**base.model_dump(), "agents": [ANA, LUIS, PACO]})
        settings = make_settings(
            db_url=db_url, inbox=imap_settings(), outbound=outbound, helpdesk=helpdesk, agents=agents, **sections
        )
        return Desk(dovecot, smtp_sink, settings, engine, clock)

    return make


def cli(desk: Desk, app, *args: str) -> str:  # type: ignore[no-untyped-def]
    """A `ventanilla` sub-command in process, on the desk's settings, database and clock."""
    result = CliRunner().invoke(app, list(args), obj=_context(desk))
    assert result.exit_code == 0, result.output
    return result.stdout


def user_writes(desk: Desk, subject: str, text: str, at: datetime) -> tuple[int, list]:  # type: ignore[type-arg]
    before = set(ticket_ids(desk.engine))
    desk.arrive(new_mail(f"María García <{MARIA}>", text, at, subject=subject), at)
    sent = desk.work(at)
    (number,) = set(ticket_ids(desk.engine)) - before
    return number, sent


def notified(sent: list) -> set[str]:  # type: ignore[type-arg]
    return {r for m in sent if kind_of(m) == "agentnotification" for r in m.rcpt_tos}


# -- groups -----------------------------------------------------------------------------------------


def test_notifications_follow_the_group_of_the_category(new_desk: Callable[..., Desk]) -> None:
    groups = [
        AgentGroup(name="certificados", members=[ANA, LUIS], categories=["export-import"]),
        AgentGroup(name="revocaciones", members=[PACO], categories=["revocation"]),
    ]
    desk = new_desk(AgentSettings(groups=groups))
    export, first = user_writes(desk, "No puedo exportar mi certificado", EXPORT, T0)
    assert notified(first) == {ANA, LUIS}
    revoke = "Me lo han robado, quiero revocarlo."
    _, sent = user_writes(desk, "Quiero revocar mi certificado", revoke, T0 + timedelta(minutes=5))
    assert notified(sent) == {PACO}
    _, sent = user_writes(desk, "Horario de atención", "¿Abren los sábados?", T0 + timedelta(minutes=10))
    assert notified(sent) == {ANA, LUIS, PACO}, "no group for the category: every agent"
    assert "routed" in event_kinds(show(desk.engine, export))

    # Ana hands the export ticket to the revocation group: Paco is told, and hears of what comes next.
    (note,) = [m.parsed() for m in to(first, ANA, "agentnotification")]
    at = T0 + timedelta(minutes=20)
    desk.arrive(press_reply(note, ANA, "#assign revocaciones", at), at)
    sent = desk.work(at)
    assert [m.rcpt_tos for m in sent] == [(PACO,)]
    assert "revocaciones" in plain(only(sent, PACO, "agentnotification"))
    data = show(desk.engine, export)
    assert (data["assigned_agent"], data["assigned_group"], data["status"]) == ("", "revocaciones", "open")
    at = T0 + timedelta(minutes=30)
    desk.arrive(new_mail(f"María García <{MARIA}>", "¿Alguna novedad?", at, subject=f"Re: [#{export}] exportar"), at)
    assert notified(desk.work(at)) == {PACO}


# -- round-robin, away ------------------------------------------------------------------------------


def test_round_robin_skips_the_agent_marked_away(new_desk: Callable[..., Desk]) -> None:
    desk = new_desk(AgentSettings(groups=[CERTS], assign="round-robin"))
    desk.clock.set(T0)
    out = cli(desk, agents_app, "away", LUIS, "--until", "2026-10-06")
    assert "until 2026-10-07 00:00 (Europe/Madrid)" in out
    (luis,) = [a for a in json.loads(cli(desk, agents_app, "list", "--json")) if a["agent"] == LUIS]
    assert luis == {"agent": LUIS, "groups": ["certificados"], "away_until": "2026-10-07T00:00:00+02:00"}

    given = []
    for n in range(3):
        number, sent = user_writes(desk, f"Exportar certificado {n}", EXPORT, T0 + timedelta(minutes=10 * n))
        assert notified(sent) == {show(desk.engine, number)["assigned_agent"]}, "only the assignee is told"
        given.append(show(desk.engine, number)["assigned_agent"])
    assert given == [ANA, PACO, ANA]
    assert "round-robin" in show(desk.engine, number)["events"][1]["detail"]

    cli(desk, agents_app, "back", LUIS)
    number, sent = user_writes(desk, "Exportar otra vez", EXPORT, T0 + timedelta(minutes=40))
    assert notified(sent) == {LUIS} and show(desk.engine, number)["assigned_agent"] == LUIS

    # Escalated by Luis: the supervisors and the rest of his group hear of it.
    note = only(sent, LUIS, "agentnotification")
    at = T0 + timedelta(minutes=50)
    desk.arrive(press_reply(note, LUIS, "#escalate necesita el registro", at), at)
    sent = desk.work(at)
    assert {r for m in sent for r in m.rcpt_tos} == {SUPERVISOR, ANA, PACO}


# -- the collision guard -----------------------------------------------------------------------------


def test_second_reply_to_the_same_notification_is_held_until_send(new_desk: Callable[..., Desk]) -> None:
    desk = new_desk(AgentSettings())
    number, sent = user_writes(desk, "No puedo exportar mi certificado", EXPORT, T0)
    to_ana, to_luis = only(sent, ANA, "agentnotification"), only(sent, LUIS, "agentnotification")

    ana_at, luis_at = T0 + timedelta(minutes=5), T0 + timedelta(minutes=8)
    desk.arrive(press_reply(to_ana, ANA, "Hola María: exporte la copia desde Ajustes.", ana_at), ana_at)
    assert [m.rcpt_tos for m in desk.work(ana_at)] == [(MARIA,)]
    desk.arrive(press_reply(to_luis, LUIS, "Hola María: pruebe con Chrome.", luis_at), luis_at)
    sent = desk.work(luis_at)
    assert [m.rcpt_tos for m in sent] == [(LUIS,)], "nothing reaches the user"
    held = only(sent, LUIS, "replyheld")
    text = plain(held)
    assert "exporte la copia desde Ajustes" in text and "pruebe con Chrome" in text
    assert "#send" in text.splitlines()[1] and "CEST" in text.splitlines()[0]
    data = show(desk.engine, number)
    assert "reply-held" in event_kinds(data)
    assert [m["text"] for m in data["messages"] if m["kind"] == "held"] == ["Hola María: pruebe con Chrome."]
    assert data["assigned_agent"] == ANA

    # Answering the notice without #send reaches nobody either: Luis is reminded of #send.
    again_at = T0 + timedelta(minutes=10)
    desk.arrive(press_reply(held, LUIS, "Vale, pero que pruebe con Chrome.", again_at), again_at)
    sent = desk.work(again_at)
    assert [m.rcpt_tos for m in sent] == [(LUIS,)]
    assert "#send on the first line" in plain(only(sent, LUIS, "commanderror"))

    # Luis still wants his to go: #send on the first line of a reply to the held notice.
    send_at = T0 + timedelta(minutes=12)
    desk.arrive(press_reply(held, LUIS, "#send\nHola María: si no, pruebe con Chrome.", send_at), send_at)
    sent = desk.work(send_at)
    relayed = only(sent, MARIA, "agentreply")
    assert answer_part(relayed) == "Hola María: si no, pruebe con Chrome."
    assert "#send" not in plain(relayed)


def test_two_replies_taken_in_one_batch_send_only_the_first(new_desk: Callable[..., Desk]) -> None:
    desk = new_desk(AgentSettings())
    number, sent = user_writes(desk, "No puedo exportar mi certificado", EXPORT, T0)
    to_ana, to_luis = only(sent, ANA, "agentnotification"), only(sent, LUIS, "agentnotification")
    luis_at, ana_at = T0 + timedelta(minutes=4), T0 + timedelta(minutes=6)
    desk.arrive(press_reply(to_luis, LUIS, "Hola María: pruebe con Chrome.", luis_at), luis_at)
    desk.arrive(press_reply(to_ana, ANA, "Hola María: exporte la copia.", ana_at), ana_at)
    sent = desk.work(ana_at)  # one poll takes both
    assert sorted((m.rcpt_tos, kind_of(m)) for m in sent) == [((ANA,), "replyheld"), ((MARIA,), "agentreply")]
    assert answer_part(only(sent, MARIA, "agentreply")) == "Hola María: pruebe con Chrome."
    assert show(desk.engine, number)["assigned_agent"] == LUIS


def test_a_reply_to_mail_written_after_the_other_reply_is_not_held(new_desk: Callable[..., Desk]) -> None:
    desk = new_desk(AgentSettings(collision_minutes=10))
    number, sent = user_writes(desk, "No puedo exportar mi certificado", EXPORT, T0)
    to_ana = only(sent, ANA, "agentnotification")
    ana_at = T0 + timedelta(minutes=5)
    desk.arrive(press_reply(to_ana, ANA, "Hola María: exporte la copia.", ana_at), ana_at)
    desk.work(ana_at)
    # Ana's note reaches Luis after her reply: answering it, he has seen where the ticket stands.
    note_at = T0 + timedelta(minutes=6)
    desk.arrive(press_reply(to_ana, ANA, "#note Le he contestado; si escribe otra vez, mira Chrome.", note_at), note_at)
    note = only(desk.work(note_at), LUIS, "agentnotification")
    luis_at = T0 + timedelta(minutes=9)
    desk.arrive(press_reply(note, LUIS, "Y si usa Chrome: Configuración, Seguridad.", luis_at), luis_at)
    assert [(m.rcpt_tos, kind_of(m)) for m in desk.work(luis_at)] == [((MARIA,), "agentreply")]
    assert "reply-held" not in event_kinds(show(desk.engine, number))


# -- canned replies ----------------------------------------------------------------------------------


def test_macro_goes_above_the_agents_text_and_an_unknown_one_reaches_nobody(new_desk: Callable[..., Desk]) -> None:
    desk = new_desk(AgentSettings())
    number, sent = user_writes(desk, "Renovar certificado", "Mi certificado caduca pronto.", T0)
    to_ana = only(sent, ANA, "agentnotification")

    at = T0 + timedelta(minutes=5)
    desk.arrive(press_reply(to_ana, ANA, "#macro nada", at), at)
    sent = desk.work(at)
    assert [m.rcpt_tos for m in sent] == [(ANA,)]
    error = plain(only(sent, ANA, "commanderror"))
    assert "unknown macro 'nada'" in error and "exportar, password-pfx, renovacion" in error

    at = T0 + timedelta(minutes=7)
    desk.arrive(press_reply(to_ana, ANA, "#macro renovacion\nSi tiene dudas, llámenos.\nAna", at), at)
    sent = desk.work(at)
    answer = answer_part(only(sent, MARIA, "agentreply"))
    assert answer.startswith("Hola María García:\n\nPuede renovar su certificado por internet")
    assert answer.endswith("Si tiene dudas, llámenos.\nAna")
    assert "#macro" not in answer


def test_cli_reply_with_a_macro_from_the_override_folder(new_desk: Callable[..., Desk], tmp_path: Path) -> None:
    override = tmp_path / "templates"
    (override / "macros" / "es").mkdir(parents=True)
    macro = "Estimado/a {{ name }} (consulta {{ ticket.id }}): propio.\n"
    (override / "macros" / "es" / "exportar.txt").write_text(macro, encoding="utf-8")
    desk = new_desk(AgentSettings(), templates=TemplatesSettings(path=str(override)))
    number, _ = user_writes(desk, "No puedo exportar mi certificado", EXPORT, T0)
    desk.clock.set(T0 + timedelta(minutes=3))
    cli(desk, tickets_app, "reply", str(number), "--agent", ANA, "--macro", "exportar", "--text", "Un saludo")
    result = CliRunner().invoke(
        tickets_app,
        ["reply", str(number), "--agent", ANA, "--macro", "nada"],
        obj=_context(desk),
    )
    assert result.exit_code == 1 and "unknown macro 'nada'" in result.output
    (reply,) = [m for m in show(desk.engine, number)["messages"] if m["kind"] == "agent"]
    assert reply["text"] == f"Estimado/a María García (consulta {number}): propio.\n\nUn saludo"


def _context(desk: Desk) -> AppContext:
    context = AppContext(None, desk.clock)
    context.__dict__.update(_loaded=(desk.settings, "test"), engine=desk.engine)
    return context


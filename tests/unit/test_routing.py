"""Routing and collisions as pure decisions: groups, round-robin with absences, crossed replies."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from config.settings import ConfigError, Settings, load_settings
from tickets.agents.commands import parse_commands
from tickets.agents.routing import (
    AgentReply,
    Group,
    Routing,
    colliding_reply,
    recipients_of,
    route_new_ticket,
    told_on_escalation,
)
from ventanilla.agents_cli import away_end

NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
ANA, LUIS, PACO, BEA = "ana@x.example", "luis@x.example", "paco@x.example", "bea@x.example"
AGENTS = (ANA, LUIS, PACO, BEA)
CERTS = Group(name="certificados", members=(ANA, LUIS, PACO), categories=("renewal", "export-import"))
REVOKE = Group(name="revocaciones", members=(BEA,), categories=("revocation",))
GROUPS = Routing(groups=(CERTS, REVOKE))
ROBIN = Routing(groups=(CERTS, REVOKE), round_robin=True)
LATER = NOW + timedelta(days=3)


@pytest.mark.parametrize(
    ("category", "routing", "away", "recipients", "assignee"),
    [
        ("renewal", GROUPS, {}, (ANA, LUIS, PACO), ""),  # the category's group
        ("revocation", GROUPS, {}, (BEA,), ""),
        ("general", GROUPS, {}, AGENTS, ""),  # no group: every agent
        ("general", Routing(), {}, AGENTS, ""),  # no groups at all
        ("renewal", GROUPS, {LUIS: LATER}, (ANA, PACO), ""),  # away members are left out
        ("renewal", GROUPS, {LUIS: NOW - timedelta(hours=1)}, (ANA, LUIS, PACO), ""),  # an absence that ended
        ("revocation", GROUPS, {BEA: LATER}, (BEA,), ""),  # all away: the group still hears of it
        ("renewal", ROBIN, {}, (ANA,), ANA),  # round-robin: the first member, alone
        ("renewal", ROBIN, {ANA: LATER}, (LUIS,), LUIS),  # ... skipping the away one
        ("revocation", ROBIN, {BEA: LATER}, (BEA,), ""),  # nobody present: the group, nobody assigned
        ("general", ROBIN, {}, AGENTS, ""),  # no group: every agent, nobody assigned
    ],
)
def test_route_of_a_new_ticket(
    category: str, routing: Routing, away: dict[str, datetime], recipients: tuple[str, ...], assignee: str
) -> None:
    route = route_new_ticket(category=category, routing=routing, agents=AGENTS, away=away, turns={}, now=NOW)
    assert (route.recipients, route.assignee) == (recipients, assignee)


def test_round_robin_turns_go_round_and_skip_the_away() -> None:
    turns: dict[str, int] = {}
    given = []
    for n in range(7):
        away = {PACO: LATER} if 3 <= n < 5 else {}
        route = route_new_ticket(category="renewal", routing=ROBIN, agents=AGENTS, away=away, turns=turns, now=NOW)
        turns[route.assignee] = route.turn
        given.append(route.assignee)
    # Paco is away for the 4th and 5th tickets; back, he is the one whose turn is the oldest.
    assert given == [ANA, LUIS, PACO, ANA, LUIS, PACO, ANA]


def test_later_messages_go_to_the_agent_then_the_group_then_everyone() -> None:
    def of(category: str, agent: str = "", group: str = "", away: dict[str, datetime] | None = None) -> tuple[str, ...]:
        return recipients_of(
            category=category,
            assigned_agent=agent,
            assigned_group=group,
            routing=GROUPS,
            agents=AGENTS,
            away=away or {},
            now=NOW,
        )

    assert of("renewal", agent=PACO) == (PACO,)
    assert of("renewal") == (ANA, LUIS, PACO)
    assert of("renewal", group="revocaciones") == (BEA,)  # #assign <group> wins over the category
    assert of("renewal", away={ANA: LATER}) == (LUIS, PACO)
    assert of("general") == AGENTS
    assert of("general", agent="gone@x.example") == AGENTS  # no longer an agent


def test_escalation_tells_the_group_only_under_round_robin() -> None:
    assert told_on_escalation(category="renewal", assigned_group="", routing=GROUPS, actor=ANA, supervisors=()) == ()
    told = told_on_escalation(category="renewal", assigned_group="", routing=ROBIN, actor=ANA, supervisors=(PACO,))
    assert told == (LUIS,)  # not the one escalating, not a supervisor (already told)
    assert told_on_escalation(category="general", assigned_group="", routing=ROBIN, actor=ANA, supervisors=()) == ()


T = NOW
FIRST = AgentReply(agent=ANA, at=T + timedelta(minutes=5), text="Hola")


@pytest.mark.parametrize(
    ("agent", "at_minutes", "seen_minutes", "replies", "minutes", "collides"),
    [
        (LUIS, 8, 1, [FIRST], 10, True),  # Ana answered after Luis's notification, 3 min before him
        (LUIS, 16, 1, [FIRST], 10, False),  # 11 min later: outside the window
        (LUIS, 15, 1, [FIRST], 10, True),  # exactly 10 min: inside
        (LUIS, 8, 6, [FIRST], 10, False),  # Luis answered mail written after Ana's reply: he saw it
        (LUIS, 8, None, [FIRST], 10, True),  # no mail of ours found: not seen
        (ANA, 8, 1, [FIRST], 10, False),  # one's own earlier reply never collides
        (LUIS, 4, 1, [FIRST], 10, False),  # a reply that arrived before Ana's
        (LUIS, 8, 1, [FIRST], 0, False),  # guard off
        (LUIS, 8, 1, [], 10, False),
    ],
)
def test_collision(
    agent: str, at_minutes: int, seen_minutes: int | None, replies: list[AgentReply], minutes: float, collides: bool
) -> None:
    seen = None if seen_minutes is None else T + timedelta(minutes=seen_minutes)
    found = colliding_reply(
        agent=agent, at=T + timedelta(minutes=at_minutes), seen_at=seen, replies=replies, minutes=minutes
    )
    assert (found == FIRST) is collides and (found is None) is not collides


def test_the_latest_crossing_reply_is_the_one_shown() -> None:
    other = AgentReply(agent=PACO, at=T + timedelta(minutes=7), text="Buenas")
    found = colliding_reply(agent=LUIS, at=T + timedelta(minutes=8), seen_at=T, replies=[FIRST, other], minutes=10)
    assert found == other


@pytest.mark.parametrize(
    ("text", "commands", "error"),
    [
        ("#macro renovacion\nY algo más", [("macro", "renovacion")], ""),
        ("#plantilla Exportar", [("macro", "exportar")], ""),
        ("#send\nMi texto", [("send", "")], ""),
        ("#enviar\nMi texto", [("send", "")], ""),
        ("#assign certificados", [("assign", "certificados")], ""),
        ("#assign ana@x.example", [("assign", "ana@x.example")], ""),
        ("#macro", [], "needs a macro name"),
        ("#send now", [], "takes no argument"),
        ("#macro a\n#macro b", [("macro", "a"), ("macro", "b")], "given twice"),
        ("#assign dos palabras", [], "needs one agent address or group"),
    ],
)
def test_routing_commands_parse(text: str, commands: list[tuple[str, str]], error: str) -> None:
    parsed = parse_commands(text)
    assert [(c.name, c.argument) for c in parsed.commands] == commands
    assert (error in "; ".join(parsed.errors)) if error else not parsed.errors


def _settings(agents: dict[str, object], helpdesk_agents: list[str]) -> Settings:
    return Settings(helpdesk={"agents": helpdesk_agents}, agents=agents)  # type: ignore[arg-type]


def test_group_members_must_be_agents(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "v.toml"
    config.write_text(
        '[helpdesk]\nagents = ["ana@x.example"]\n\n'
        '[[agents.groups]]\nname = "certs"\nmembers = ["ana@x.example", "nadie@x.example"]\ncategories = ["renewal"]\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert "nadie@x.example not in helpdesk.agents" in message and "\n" not in message


@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        ([{"name": "a", "members": [ANA], "categories": ["x"]}, {"name": "a", "members": [ANA]}], "defined twice"),
        ([{"name": "a", "members": [ANA], "categories": ["x"]}, {"name": "b", "members": [ANA], "categories": ["x"]}],
         "'x' is in groups"),
        ([{"name": "Con espacios", "members": [ANA]}], "group name"),
        ([{"name": "a", "members": []}], "at least 1"),
    ],
)
def test_bad_groups_are_config_errors(groups: list[dict[str, object]], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        _settings({"groups": groups}, [ANA])


def test_groups_and_round_robin_load() -> None:
    settings = _settings(
        {"groups": [{"name": "Certs", "members": [ANA.upper()], "categories": ["Renewal"]}], "assign": "round-robin"},
        [ANA],
    )
    (group,) = settings.agents.groups
    assert (group.name, group.members, group.categories) == ("certs", [ANA], ["renewal"])
    assert settings.agents.assign == "round-robin" and settings.agents.collision_minutes == 10


MADRID = ZoneInfo("Europe/Madrid")


def test_away_end_reads_dates_and_times_in_the_service_zone() -> None:
    assert away_end("2026-12-24", MADRID) == datetime(2026, 12, 25, 0, 0, tzinfo=MADRID)  # through that day
    assert away_end("2026-12-24T14:30", MADRID) == datetime(2026, 12, 24, 14, 30, tzinfo=MADRID)
    assert away_end("2026-12-24T14:30+00:00", MADRID) == datetime(2026, 12, 24, 14, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        away_end("mañana", MADRID)

"""`ventanilla demo`: the newcomer's first command, with no server at all."""

import json
import re
from email import message_from_bytes, policy
from pathlib import Path

from tests.e2e.conftest import clean_env, ventanilla


def _demo(tmp_path: Path, directory: Path):  # type: ignore[no-untyped-def]
    return ventanilla("demo", "--dir", directory, cwd=tmp_path, env=clean_env(), timeout=120)


def test_demo_runs_and_leaves_a_database_to_explore(tmp_path) -> None:
    directory = tmp_path / "demo"
    result = _demo(tmp_path, directory)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Tickets in the demo database" in result.stdout
    assert "urgent" in result.stdout and "Files the demo wrote" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    # The web form: its address, and Lucía's question through it became a ticket, acknowledged.
    assert re.search(r"the web form at http://127\.0\.0\.1:\d+/", result.stdout)
    web_ticket = re.search(r"the page shows her ticket \[#(\d+)\]", result.stdout)
    assert web_ticket, result.stdout[-3000:]

    config = directory / "ventanilla.toml"
    listed = ventanilla("-c", config, "tickets", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    tickets = json.loads(listed.stdout)
    assert len(tickets) >= 6
    assert {t["language"] for t in tickets} >= {"es", "en"}
    urgent = [t for t in tickets if t["priority"] == "urgent"]
    assert any(t["category"] == "revocation" for t in urgent), tickets
    # The demo runs SLA sweeps up to +49 h: overdue tickets end escalated, ticket #1 was answered.
    assert {t["status"] for t in tickets} <= {"open", "pending", "escalated"}
    assert any(t["status"] == "escalated" for t in tickets)

    # Acknowledgements were written as .eml files, addressed to requesters, with the ticket reference.
    # (Agents may get notifications in the same folder; the acks are the mail to requesters.)
    requesters = {t["requester"]["email"] for t in tickets}
    sent = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in (directory / "outbox").glob("*.eml")]
    to_requesters = [m for m in sent if any(r in str(m["To"]) for r in requesters)]
    acks = [m for m in to_requesters if m["Auto-Submitted"] == "auto-replied"]
    # The agent's answer and the phone follow-up are written by people: no Auto-Submitted.
    assert any(m["Auto-Submitted"] is None for m in to_requesters)
    assert len({str(a["To"]) for a in acks}) >= 6, "one acknowledgement per requester, written as .eml files"
    for ack in acks:
        assert ack["Auto-Submitted"] and ack["Message-ID"]
        assert "[#" in str(ack["Subject"])
    assert any(f"[#{web_ticket[1]}]" in str(a["Subject"]) and "lucia.romero@" in str(a["To"]) for a in acks)
    # The demo's FAQ (config/faq-demo): suggestions in an ack, shown; a revocation gets the 24/7 line first.
    assert "Quizá le ayude:" in result.stdout and "https://ayuda.ca-ejemplo.es/faq/codigo-no-valido" in result.stdout
    texts = {str(a["To"]): a.get_body(preferencelist=("plain",)).get_content() for a in acks}  # type: ignore[union-attr]
    revoked = next(text for to, text in texts.items() if "jordi.puig" in to)
    assert "Quizá le ayude:" not in revoked and revoked.index("24 horas") < revoked.index("Hemos recibido")
    assert sum("Quizá le ayude:" in t or "These answers may help:" in t for t in texts.values()) >= 3

    # The demo's group routes revocations to Luis alone; the other new tickets reach both agents.
    assert "Who was told of each new ticket" in result.stdout
    revocation = next(t for t in urgent if t["category"] == "revocation")["id"]
    told = {str(m["To"]) for m in sent if str(m["Subject"]).startswith(f"[#{revocation}] Nueva consulta")}
    assert told == {"luis@ventanilla.example"}, told

    # The config it wrote works for going on: a ticket shows with its thread.
    shown = ventanilla("-c", config, "tickets", "show", str(urgent[0]["id"]), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["messages"]
    # Nothing was written outside the demo folder.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_demo_twice_recreates_its_folder(tmp_path) -> None:
    directory = tmp_path / "demo"
    first = _demo(tmp_path, directory)
    assert first.returncode == 0, first.stderr
    count = len(json.loads(ventanilla("-c", directory / "ventanilla.toml", "tickets", "list", "--json",
                                      cwd=tmp_path).stdout))
    (directory / "leftover.txt").write_text("from the first run")

    second = _demo(tmp_path, directory)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert not (directory / "leftover.txt").exists(), "the second run starts from a fresh folder"
    again = json.loads(ventanilla("-c", directory / "ventanilla.toml", "tickets", "list", "--json",
                                  cwd=tmp_path).stdout)
    assert len(again) == count, "tickets are not doubled by a second demo"


def test_demo_refuses_a_folder_that_is_not_a_demo_folder(tmp_path) -> None:
    directory = tmp_path / "precious"
    directory.mkdir()
    (directory / "thesis.txt").write_text("do not delete me")

    result = _demo(tmp_path, directory)

    assert result.returncode != 0
    assert "not a demo folder" in " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in result.stdout + result.stderr
    assert (directory / "thesis.txt").read_text() == "do not delete me"
    assert sorted(p.name for p in directory.iterdir()) == ["thesis.txt"]

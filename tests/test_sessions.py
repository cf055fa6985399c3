"""BarCamp sessions and working groups: proposals, interest, the organiser's grid and plan, publishing,
host notes reaching the recap, working-group places; on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from eventkit.core.tokens import signed_token, token_hash
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Event, Invitation, OutboxMessage, Person, SessionProposal
from eventkit.events.events import save_event
from eventkit.invitations.invitations import import_invitees
from eventkit.model import planner
from eventkit.model.formats import discover
from eventkit.model.invitees import Invitee
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import EventSpec, parse_spec
from eventkit.recap import document, intake
from eventkit.registration import cancellation, desk
from eventkit.registration.rules import InvalidLink
from eventkit.runtime import Runtime
from eventkit.sessions import planning
from eventkit.sessions.board import SessionView, board, set_interest
from eventkit.sessions.emails import KIND, enqueue_plan_emails
from eventkit.sessions.grid import grid_of, parse_grid_form, set_grid
from eventkit.sessions.groups import assign_working_groups, working_groups
from eventkit.sessions.notes import notes_link, notes_session, recap_sessions, save_notes
from eventkit.sessions.participants import NotRegistered, participant
from eventkit.sessions.proposals import UnknownSession, import_registration_ideas, propose
from eventkit.sessions.publish import NotPublished, plan_pdf, publish, published
from tests.conftest import TEMPLATES, make_settings

DAY = date.today() + timedelta(days=30)

BARCAMP = f"""\
title: BarCamp Städtepartnerschaften
format: barcamp
start: {DAY.isoformat()}T16:00
end: {DAY.isoformat()}T20:00
language: de
venue: {{name: Stadtbibliothek Hannover, address: "Hildesheimer Straße 12, 30169 Hannover"}}
organiser: {{name: Antenne Métropole, email: antenne@example.org}}
capacity: 40
session_grid:
  rounds:
    - {{start: "16:50", end: "17:50"}}
    - {{start: "18:05", end: "19:05"}}
  rooms:
    - {{name: Lesesaal, capacity: 3}}
    - {{name: Tisch 2, capacity: 2}}
"""

NETZWERKTREFFEN = f"""\
title: Netzwerktreffen Gera
format: netzwerktreffen
start: {DAY.isoformat()}T10:00
language: de
venue: {{name: Rathaus Gera, address: "Kornmarkt 12, 07545 Gera"}}
organiser: {{name: Netzwerk Gera, email: netz@example.org}}
working_groups: [Bildung, Arbeit, Wohnen]
working_group_capacity: {{Bildung: 2, Arbeit: 2, Wohnen: 1}}
"""

PEOPLE = [
    ("ayse@example.org", "Ayşe Yılmaz", "de"),
    ("dmitri@example.org", "Дмитрий Иванов", "en"),
    ("m.alahmad@example.org", "محمد الأحمد", "en"),
    ("gisela@example.org", "Gisela Müller", "de"),
    ("olena@example.org", "Olena Kovalenko", "de"),
]


@dataclass(frozen=True)
class Someone:
    email: str
    name: str
    registration_id: int
    token: str  # the personal (manage) link's token


def make_event(rt: Runtime, text: str = BARCAMP) -> EventSpec:
    spec = parse_spec(text, TEMPLATES)
    save_event(rt.store, rt.settings, spec)
    return spec


def register(
    rt: Runtime,
    spec: EventSpec,
    address: str,
    name: str,
    language: str = "de",
    answers: dict[str, object] | None = None,
) -> Someone:
    """An invited person registers through their invitation link (a place at once)."""
    import_invitees(rt.store, spec.slug, [Invitee(address, name, None, language, 2)])
    token = f"invite-{spec.slug}-{address}"
    with rt.store.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.email == address)).one()
        event_id = session.scalars(select(Event.id).where(Event.slug == spec.slug)).one()
        session.execute(
            update(Invitation)
            .where(Invitation.person_id == person_id, Invitation.event_id == event_id)
            .values(token_hash=token_hash(rt.settings.secret_key, "register", token))
        )
    outcome = desk.submit(
        rt, spec.slug, RegistrationInput(name, address, None, language, dict(answers or {})), invitation_token=token
    )
    assert outcome.status == "registered" and outcome.manage_token
    return Someone(address, name, outcome.registration_id, outcome.manage_token)


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url))
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def camp(rt: Runtime) -> tuple[EventSpec, list[Someone]]:
    spec = make_event(rt)
    people = [register(rt, spec, *p) for p in PEOPLE]
    return spec, people


def titles(views: list[SessionView]) -> list[str]:
    return [v.title for v in views]


# ---------------------------------------------------------------------------------------------- proposals


def test_registered_people_propose_and_mark_interest(rt: Runtime, camp: tuple[EventSpec, list[Someone]]) -> None:
    spec, (ayse, dmitri, mohammed, *_rest) = camp
    first = propose(rt, spec.slug, ayse.token, "Mehrsprachige Elternarbeit", "Erfahrungen\n\naustauschen")
    second = propose(rt, spec.slug, mohammed.token, "العمل مع الأهل", "")
    assert propose(rt, spec.slug, ayse.token, "Mehrsprachige Elternarbeit", "") == first  # sent twice
    set_interest(rt, spec.slug, dmitri.token, str(first), True)
    set_interest(rt, spec.slug, dmitri.token, str(first), True)  # a repeated click counts once
    set_interest(rt, spec.slug, mohammed.token, str(first), True)
    set_interest(rt, spec.slug, dmitri.token, str(second), True)
    set_interest(rt, spec.slug, dmitri.token, str(second), False)

    views = board(rt, spec.slug, viewer=dmitri.registration_id)
    assert titles(views) == ["Mehrsprachige Elternarbeit", "العمل مع الأهل"]
    assert [v.interest for v in views] == [2, 0]
    assert views[0].interested and not views[1].interested
    assert views[0].hosts == ("Ayşe Yılmaz",) and views[1].hosts == ("محمد الأحمد",)
    assert views[0].description == "Erfahrungen\n\naustauschen"
    assert board(rt, spec.slug, viewer=ayse.registration_id)[0].hosted


def test_only_people_with_a_place_take_part(rt: Runtime, camp: tuple[EventSpec, list[Someone]]) -> None:
    spec, (ayse, dmitri, *_rest) = camp
    with pytest.raises(InvalidLink):
        propose(rt, spec.slug, "1.forged-token-forged-token-forged", "Titel", "")
    with rt.store.session() as session:
        nonce = session.scalars(select(SessionProposal.notes_nonce)).first()
    # a token for another purpose (confirm) is no personal link for the board
    confirm = signed_token(rt.settings.secret_key, "confirm", ayse.registration_id, "x" if nonce is None else nonce)
    with pytest.raises(InvalidLink):
        participant(rt, spec.slug, confirm)
    cancellation.cancel(rt, spec.slug, dmitri.token)
    with pytest.raises(NotRegistered):
        propose(rt, spec.slug, dmitri.token, "Titel", "")
    with pytest.raises(NotRegistered):
        set_interest(rt, spec.slug, dmitri.token, "1", True)
    with pytest.raises(UnknownSession):
        set_interest(rt, spec.slug, ayse.token, "999", True)
    with pytest.raises(UnknownSession):
        set_interest(rt, spec.slug, ayse.token, "'; drop table", True)


@pytest.mark.parametrize(
    ("title", "description", "field", "german"),
    [
        ("", "", "title", "title: ist erforderlich"),
        ("x" * 151, "", "title", "title: ist zu lang (151 Zeichen, höchstens 150)"),
        ("Zwei\nZeilen", "", "title", "title: enthält einen Zeilenumbruch oder ein Steuerzeichen"),
        ("Titel", "a\x00b", "description", "description: enthält ein Steuerzeichen"),
        ("Titel", "y" * 2001, "description", "description: ist zu lang"),
    ],
)
def test_a_bad_proposal_names_its_field_and_stores_nothing(
    rt: Runtime, camp: tuple[EventSpec, list[Someone]], title: str, description: str, field: str, german: str
) -> None:
    spec, (ayse, *_rest) = camp
    with pytest.raises(ValidationFailed) as info:
        propose(rt, spec.slug, ayse.token, title, description)
    assert [p.field for p in info.value.problems] == [field]
    assert info.value.render("de").startswith(german)
    assert info.value.render("en").startswith(field + ": ")
    assert board(rt, spec.slug) == []


def test_session_ideas_from_the_registration_form_reach_the_board(rt: Runtime) -> None:
    spec = make_event(rt)
    idea = {"session_title": "Partnerschaftsjubiläen feiern", "session_description": "Ideen für 2028"}
    gisela = register(rt, spec, "gisela@example.org", "Gisela Müller", answers=idea)
    ayse = register(rt, spec, "ayse@example.org", "Ayşe Yılmaz")
    # shown before anything was stored (the board's GET changes nothing), under a key of the registration
    (view,) = board(rt, spec.slug)
    assert view.id is None and view.key == f"r{gisela.registration_id}" and view.hosts == ("Gisela Müller",)
    with rt.store.session() as session:
        assert session.scalars(select(SessionProposal)).all() == []
    # marking it takes it over onto the board, once
    proposal_id = set_interest(rt, spec.slug, ayse.token, view.key, True)
    assert import_registration_ideas(rt, spec.slug) == 0
    (view,) = board(rt, spec.slug)
    assert (view.id, view.interest, view.description) == (proposal_id, 1, "Ideen für 2028")


# ---------------------------------------------------------------------------------------------- the grid


def test_the_grid_comes_from_the_spec_or_the_organiser(rt: Runtime) -> None:
    spec = make_event(rt)
    grid = grid_of(rt, spec.slug)
    assert grid is not None
    assert [(r.start, r.end) for r in grid.rounds] == [("16:50", "17:50"), ("18:05", "19:05")]
    assert [(r.name, r.capacity) for r in grid.rooms] == [("Lesesaal", 3), ("Tisch 2", 2)]
    new = parse_grid_form("16:50-17:50\n18:05–19:05 Uhr\n19:10 - 19:40", "Lesesaal, 20\nCafé: 8\n")
    set_grid(rt, spec.slug, new)
    stored = grid_of(rt, spec.slug)
    assert stored == new and len(stored.rounds) == 3 and stored.rooms[1].name == "Café"

    plain = make_event(rt, "slug: zweites-barcamp\n" + BARCAMP.split("session_grid:")[0] + "rounds: 2\ntables: 4\n")
    from_counts = grid_of(rt, plain.slug)
    assert from_counts is not None
    assert [r.name for r in from_counts.rooms] == ["Tisch 1", "Tisch 2", "Tisch 3", "Tisch 4"]
    assert {r.capacity for r in from_counts.rooms} == {10}  # 40 places over 4 tables


def test_grid_form_errors_name_field_and_line() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_grid_form("16:50-17:50\nspäter\n18:00-17:00", "Lesesaal, 20\nCafé\nLesesaal, 4\n")
    rendered = info.value.render("de").splitlines()
    assert rendered == [
        "rounds: Zeile 2: 'später' ist keine Zeitspanne wie „16:50-17:50“",
        "rounds: Zeile 3: Das Ende muss nach dem Beginn liegen",
        "rooms: Zeile 2: 'Café' ist kein Name mit einer Zahl von Plätzen wie „Lesesaal, 20“",
        "rooms: Zeile 3: 'Lesesaal' kommt zweimal vor",
    ]
    assert (
        info.value.render("en").splitlines()[0] == "rounds: line 2: 'später' is not a time span such as \"16:50-17:50\""
    )
    with pytest.raises(ValidationFailed) as info:
        parse_grid_form("", "")
    assert [p.field for p in info.value.problems] == ["rounds", "rooms"]


def test_a_bad_grid_in_the_spec_is_reported_with_its_line() -> None:
    text = BARCAMP.replace('end: "17:50"', 'end: "16:00"').replace("capacity: 2}", "capacity: null}")
    with pytest.raises(ValidationFailed) as info:
        parse_spec(text, TEMPLATES, source="camp.yaml")
    lines = info.value.render("en").splitlines()
    assert lines == [
        "camp.yaml:11: session_grid.rounds[0].end: must be after the start (16:50)",
        "camp.yaml:15: session_grid.rooms[1].capacity: must be a whole number from 1 to 10000",
    ]


# ---------------------------------------------------------------------------------------------- planning


def proposals_with_interest(rt: Runtime, spec: EventSpec, people: list[Someone]) -> dict[str, int]:
    ayse, dmitri, mohammed, gisela, olena = people
    ids = {
        "eltern": propose(rt, spec.slug, ayse.token, "Elternarbeit", ""),
        "jugend": propose(rt, spec.slug, ayse.token, "Jugendaustausch", ""),
        "foerder": propose(rt, spec.slug, dmitri.token, "Fördermittel", ""),
        "social": propose(rt, spec.slug, gisela.token, "Social Media", ""),
    }
    marks = {
        dmitri: ["eltern", "jugend"],
        mohammed: ["eltern", "foerder", "social"],
        gisela: ["eltern", "jugend"],
        olena: ["eltern", "foerder", "jugend"],
    }
    for who, wanted in marks.items():
        for name in wanted:
            set_interest(rt, spec.slug, who.token, str(ids[name]), True)
    return ids


def test_planning_serves_interest_keeps_hosts_apart_and_is_deterministic(
    rt: Runtime, camp: tuple[EventSpec, list[Someone]]
) -> None:
    spec, people = camp
    ids = proposals_with_interest(rt, spec, people)
    result = planning.plan(rt, spec.slug)
    again = planning.plan(rt, spec.slug)
    assert result.placements == again.placements
    slots = {int(k): v for k, v in result.placements.items()}
    assert len(slots) == 4 and len(set(slots.values())) == 4
    # Ayşe hosts two sessions: never in the same round
    assert slots[ids["eltern"]].round != slots[ids["jugend"]].round
    # the most wanted session gets the bigger room
    assert slots[ids["eltern"]].room == "Lesesaal"
    draft = planning.draft(rt, spec.slug)
    assert draft.placements == slots and draft.served == result.served and draft.interest == result.interest
    assert result.served <= result.interest


def test_frozen_sessions_stay_when_replanning_and_moves_swap(
    rt: Runtime, camp: tuple[EventSpec, list[Someone]]
) -> None:
    spec, people = camp
    ids = proposals_with_interest(rt, spec, people)
    planning.plan(rt, spec.slug)
    # the organiser puts "Social Media" into round 1, Lesesaal, by hand: it is frozen there
    before = planning.draft(rt, spec.slug).placements
    occupant = next(k for k, s in before.items() if s == planner.Slot(0, "Lesesaal"))
    evaluated = planning.move(rt, spec.slug, ids["social"], 0, "Lesesaal")
    assert evaluated is not None
    after = planning.draft(rt, spec.slug)
    assert after.placements[ids["social"]] == planner.Slot(0, "Lesesaal")
    assert after.placements[occupant] == before[ids["social"]]  # swapped into the moved session's old place
    assert ids["social"] in after.frozen
    replanned = planning.plan(rt, spec.slug)
    assert replanned.placements[str(ids["social"])] == planner.Slot(0, "Lesesaal")
    # unfrozen, the planner may move it again; frozen again, it stays
    planning.freeze(rt, spec.slug, ids["social"], False)
    assert ids["social"] not in planning.draft(rt, spec.slug).frozen
    planning.freeze(rt, spec.slug, ids["social"], True)
    assert planning.plan(rt, spec.slug).placements[str(ids["social"])] == planner.Slot(0, "Lesesaal")
    # a place outside the grid is refused, naming the field; nothing changes
    with pytest.raises(ValidationFailed) as info:
        planning.move(rt, spec.slug, ids["social"], 5, "Lesesaal")
    assert info.value.problems[0].field == "slot"
    assert planning.draft(rt, spec.slug).placements[ids["social"]] == planner.Slot(0, "Lesesaal")
    # out of the plan: unplaced and no longer frozen
    planning.move(rt, spec.slug, ids["social"], None, None)
    out = planning.draft(rt, spec.slug)
    assert ids["social"] not in out.placements and ids["social"] not in out.frozen
    with pytest.raises(ValidationFailed):
        planning.freeze(rt, spec.slug, ids["social"], True)


def test_moving_a_host_into_a_clash_is_explained(rt: Runtime, camp: tuple[EventSpec, list[Someone]]) -> None:
    spec, people = camp
    ids = proposals_with_interest(rt, spec, people)
    result = planning.plan(rt, spec.slug)
    eltern = result.placements[str(ids["eltern"])]
    other_room = "Tisch 2" if eltern.room == "Lesesaal" else "Lesesaal"
    evaluated = planning.move(rt, spec.slug, ids["jugend"], eltern.round, other_room)
    assert evaluated is not None
    codes = {r.code for r in evaluated.reasons}
    assert "host_double_booked" in codes
    texts = [planner.describe(r, "de") for r in planning.draft(rt, spec.slug).reasons]
    assert any("Ayşe Yılmaz" in t and "leitet in Runde" in t for t in texts)


# ---------------------------------------------------------------------------------------------- publishing


def test_publishing_makes_versions_and_emails_once_per_version(
    rt: Runtime, camp: tuple[EventSpec, list[Someone]]
) -> None:
    spec, people = camp
    ids = proposals_with_interest(rt, spec, people)
    with pytest.raises(NotPublished):
        publish(rt, spec.slug)  # nothing planned yet
    assert published(rt, spec.slug) is None
    planning.plan(rt, spec.slug)
    first = publish(rt, spec.slug)
    assert first.version == 1 and len(first.entries) == 4
    assert publish(rt, spec.slug).version == 1  # unchanged: no new version
    sent = enqueue_plan_emails(rt, spec.slug)
    assert sent == {"plan": 5, "already": 0, "version": 1}
    assert enqueue_plan_emails(rt, spec.slug) == {"plan": 0, "already": 5, "version": 1}

    planning.move(rt, spec.slug, ids["social"], None, None)
    second = publish(rt, spec.slug)
    assert second.version == 2 and len(second.entries) == 3
    assert published(rt, spec.slug) == second
    assert enqueue_plan_emails(rt, spec.slug)["plan"] == 5

    with rt.store.session() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == KIND)).all()
    assert len(rows) == 10 and all(r.raw for r in rows)
    ayse = next(r for r in rows if r.recipient == "ayse@example.org" and r.params == {"version": 2})
    message = email.message_from_bytes(ayse.raw or b"")
    assert "Sessionplan" in str(message["Subject"]) or "Sessionplan" in ayse.subject
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain").get_payload(decode=True)
    assert isinstance(text, bytes)
    body = text.decode()
    assert "Elternarbeit" in body and "Ayşe Yılmaz" in body
    assert f"/e/{spec.slug}/sessions/{ids['eltern']}/notes?t=" in body  # the host's notes link
    dmitri = next(r for r in rows if r.recipient == "dmitri@example.org" and r.params == {"version": 2})
    assert "Session plan" in dmitri.subject  # in his language


def test_the_wall_poster_has_the_grid(rt: Runtime, camp: tuple[EventSpec, list[Someone]]) -> None:
    spec, people = camp
    proposals_with_interest(rt, spec, people)
    planning.plan(rt, spec.slug)
    publish(rt, spec.slug)
    path = plan_pdf(rt, spec.slug, "de")
    assert path.read_bytes().startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True).stdout
    for word in ("Sessionplan", "BarCamp Städtepartnerschaften", "Lesesaal", "Tisch 2", "16:50", "Elternarbeit"):
        assert word in text
    assert "Ayşe Yılmaz" in text
    assert plan_pdf(rt, spec.slug, "de") == path  # cached per version
    english = subprocess.run(
        ["pdftotext", str(plan_pdf(rt, spec.slug, "en")), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "Session plan" in english and "Round 1" in english


# ---------------------------------------------------------------------------------------------- notes and recap


def test_host_notes_reach_the_recap(rt: Runtime, camp: tuple[EventSpec, list[Someone]]) -> None:
    spec, people = camp
    ids = proposals_with_interest(rt, spec, people)
    planning.plan(rt, spec.slug)
    publish(rt, spec.slug)
    link = notes_link(rt, spec.slug, ids["eltern"])
    token = link.split("?t=", 1)[1]
    view = notes_session(rt, spec.slug, ids["eltern"], token)
    assert view.title == "Elternarbeit"
    save_notes(rt, spec.slug, ids["eltern"], token, "## Ergebnisse\n\n- Elterncafé <b>monatlich</b>\n")
    # the link is bound to its session and purpose
    with pytest.raises(InvalidLink):
        notes_session(rt, spec.slug, ids["jugend"], token)
    with pytest.raises(InvalidLink):
        save_notes(rt, spec.slug, ids["eltern"], people[0].token, "x")
    with pytest.raises(ValidationFailed) as info:
        save_notes(rt, spec.slug, ids["eltern"], token, "x" * 20_001)
    assert info.value.problems[0].field == "notes"

    entries = recap_sessions(rt, spec.slug)
    assert len(entries) == 4
    eltern = next(e for e in entries if e["title"] == "Elternarbeit")
    assert eltern["host"] == "Ayşe Yılmaz" and eltern["notes"].startswith("## Ergebnisse")
    assert {(e["round"], e["table"]) for e in entries} <= {(1, 1), (1, 2), (2, 1), (2, 2)}

    # a recap input without sessions takes the published grid and the notes
    barcamp = discover(TEMPLATES)["barcamp"]
    given = intake.validate({"summary": "Ein guter Abend."}, barcamp, slug=spec.slug)
    html, *_ = document.recap_html(rt, spec.slug, given, language="de")
    assert "Elternarbeit" in html and "Elterncafé" in html
    assert "&lt;b&gt;monatlich&lt;/b&gt;" in html and "<b>monatlich" not in html  # Markdown without raw HTML
    # one that names sessions of its own gets the board's grid all the same: the recap tells what the day
    # held, as the published plan and the hosts' notes say; an input's grid is for events without the board
    own = intake.validate(
        {"sessions": [{"round": 1, "table": 1, "title": "Eigene Runde", "notes": "Andere Notizen"}]},
        barcamp,
        slug=spec.slug,
    )
    html, *_ = document.recap_html(rt, spec.slug, own, language="de")
    assert "Elternarbeit" in html and "Elterncafé" in html
    assert "Eigene Runde" not in html and "Andere Notizen" not in html


# ---------------------------------------------------------------------------------------------- working groups


def test_working_groups_within_capacity_first_choices_first(rt: Runtime) -> None:
    spec = make_event(rt, NETZWERKTREFFEN)
    choices = [
        ("ayse@example.org", "Ayşe Yılmaz", "Bildung", "Arbeit"),
        ("dmitri@example.org", "Дмитрий Иванов", "Bildung", "Wohnen"),
        ("m.alahmad@example.org", "محمد الأحمد", "Bildung", "Arbeit"),
        ("gisela@example.org", "Gisela Müller", "Wohnen", "Bildung"),
        ("olena@example.org", "Olena Kovalenko", "Arbeit", None),
    ]
    for address, name, first, second in choices:
        register(rt, spec, address, name, answers={"working_group_first": first, "working_group_second": second})
    result = assign_working_groups(rt, spec.slug)
    assert result.unassigned == ()
    counts: dict[str, int] = {}
    for group in result.assignment.values():
        counts[group] = counts.get(group, 0) + 1
    assert counts["Bildung"] <= 2 and counts["Arbeit"] <= 2 and counts.get("Wohnen", 0) <= 1
    # three want Bildung first (2 places), so 4 of 5 get their first choice, the fifth their second
    assert result.by_rank == (4, 1)
    groups = working_groups(rt, spec.slug)
    assert list(groups) == ["Bildung", "Arbeit", "Wohnen"]
    assert sum(len(m) for m in groups.values()) == 5
    assert ("Gisela Müller", 1) in groups["Wohnen"]
    # running it again gives the same assignment (replaced, not added)
    assert assign_working_groups(rt, spec.slug).assignment == result.assignment
    assert sum(len(m) for m in working_groups(rt, spec.slug).values()) == 5


def test_working_group_capacity_is_checked_in_the_spec() -> None:
    bad = NETZWERKTREFFEN.replace("{Bildung: 2, Arbeit: 2, Wohnen: 1}", "{Bildung: -1, Kultur: 3}")
    with pytest.raises(ValidationFailed) as info:
        parse_spec(bad, TEMPLATES, source="gera.yaml")
    assert info.value.render("de").splitlines() == [
        "gera.yaml:8: working_group_capacity.Bildung: muss eine ganze Zahl von 0 bis 10000 sein",
        "gera.yaml:8: working_group_capacity.Kultur: ist keine der working_groups",
    ]

"""Minutes of a meeting: checked, kept, and their open tasks listed in the next meeting's invitation."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from eventkit import runtime
from eventkit.core.settings import Settings
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import OutboxMessage
from eventkit.invitations import invitations
from eventkit.minutes.minutes import open_tasks, stored_minutes, take_input
from eventkit.model.minutes import parse_minutes
from eventkit.model.series_file import load_series
from eventkit.series.meetings import create_meetings
from eventkit.series.stored import store_series
from tests.conftest import EXAMPLES, TEMPLATES

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FIRST, SECOND = "plenum-buendnis-zwickau-2027-01-13", "plenum-buendnis-zwickau-2027-04-14"
MINUTES = """
decisions:
  - Das Bündnis ruft zur Kundgebung am 8. Mai auf.
tasks:
  - who: Koordinierungsbüro
    what: Kontakt zu den Ordnungsbehörden aufnehmen
    due: 2027-03-31
  - who: Beirat
    what: Empfehlung zur Aufnahme neuer Partner*innen vorbereiten
    done: false
  - who: Yusuf Demir
    what: Raum für das Sommerfest anfragen
    done: true
"""


@pytest.fixture
def rt(settings: Settings) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(settings)
    yield configured
    configured.store.dispose()


def test_bad_minutes_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_minutes("tasks:\n  - who: Beirat\n    due: bald\n    done: vielleicht\n", source="m.yaml")
    text = caught.value.render("en")
    assert "m.yaml:2: tasks[0].what: is required" in text
    assert "m.yaml:3: tasks[0].due: 'bald' is not a date" in text
    assert "m.yaml:4: tasks[0].done: must be true or false" in text


def test_open_tasks_reach_the_next_meetings_invitation(rt: runtime.Runtime, tmp_path: Path) -> None:
    series = load_series(EXAMPLES / "series" / "plenum-buendnis.yaml", TEMPLATES)
    store_series(rt.settings, series)
    assert create_meetings(rt, series.slug, now=NOW, horizon=timedelta(days=200)) == [FIRST, SECOND]
    source = tmp_path / "minutes.yaml"
    source.write_text(MINUTES, encoding="utf-8")
    kept = take_input(rt, FIRST, source)
    assert len(kept.tasks) == 3 and stored_minutes(rt.settings, FIRST) == kept

    tasks = open_tasks(rt, series.slug, before=date(2027, 4, 14))
    assert [t.who for t in tasks] == ["Koordinierungsbüro", "Beirat"]
    assert open_tasks(rt, series.slug, before=date(2027, 1, 13)) == []  # nothing before the first meeting

    # the second meeting's invitations, made through the real invitation path
    for first, last in invitations.plan_batches(rt.store, SECOND, 50):
        invitations.prepare_batch(rt.store, rt.settings, rt.renderer, SECOND, first, last)
    with rt.store.session() as session:
        raw = session.scalars(select(OutboxMessage.raw).where(OutboxMessage.kind == "invitation")).all()
    texts = {}
    for data in raw:
        message = email.message_from_bytes(data, policy=email.policy.default)
        texts[message["To"].addresses[0].addr_spec] = (  # type: ignore[attr-defined]
            message.get_body(("plain",)).get_content(),  # type: ignore[attr-defined]
            message.get_body(("html",)).get_content(),  # type: ignore[attr-defined]
        )
    text, html = texts["beirat@buendnis-zwickau.example.org"]
    assert "Offene Aufgaben aus früheren Treffen" in text and "Offene Aufgaben aus früheren Treffen" in html
    assert "Kontakt zu den Ordnungsbehörden aufnehmen (Koordinierungsbüro, bis 31.03.2027" in text
    assert "aus dem Treffen am 13.01.2027" in text
    assert "Empfehlung zur Aufnahme neuer Partner*innen vorbereiten" in html
    assert "Raum für das Sommerfest" not in text  # done
    english, _ = texts["kontakt@buergerinitiative.example.org"]
    assert "Open tasks from earlier meetings" in english


def test_the_first_meeting_has_no_open_tasks(rt: runtime.Runtime) -> None:
    series = load_series(EXAMPLES / "series" / "plenum-buendnis.yaml", TEMPLATES)
    store_series(rt.settings, series)
    create_meetings(rt, series.slug, now=NOW, horizon=timedelta(days=60))
    for first, last in invitations.plan_batches(rt.store, FIRST, 50):
        invitations.prepare_batch(rt.store, rt.settings, rt.renderer, FIRST, first, last)
    with rt.store.session() as session:
        raw = session.scalars(select(OutboxMessage.raw).where(OutboxMessage.kind == "invitation")).all()
    bodies = [
        email.message_from_bytes(data, policy=email.policy.default).get_body(("plain",)).get_content()  # type: ignore[attr-defined]
        for data in raw
    ]
    assert len(bodies) == 5 and all("Programm" in b and "früheren Treffen" not in b for b in bodies)

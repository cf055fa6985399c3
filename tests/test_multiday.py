"""Multi-day events: registration per day, the attendance sheet of each day, reminders before the first day."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from eventkit import runtime
from eventkit.core.settings import Settings
from eventkit.core.tokens import new_nonce
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Person, Registration
from eventkit.events.events import find_event, format_for, save_event
from eventkit.model import lifecycle
from eventkit.model.registration_form import form_fields, parse_registration
from eventkit.model.spec import parse_spec
from eventkit.recap.attendance import render_attendance
from tests.conftest import TEMPLATES

# the national meeting of seed 004: two days in Nürnberg, parallel workshops on the second day
TWO_DAYS = """\
title: Bundesweite Vernetzung Gesellschaftlicher Zusammenhalt
format: netzwerktreffen
start: 2027-11-04T10:00
end: 2027-11-05T15:00
venue: {name: Tagungszentrum Nürnberg, address: "Frankenstraße 1, 90461 Nürnberg"}
organiser: {name: Programmbüro, email: programm@example.org}
registration_per_day: true
agenda:
  - {time: "10:00", title: Ankommen und Begrüßung}
  - {time: "14:00", title: Preisverleihung}
  - {day: 2, time: "09:00", title: Parallele Workshops}
  - {day: 2, time: "13:00", title: Abschluss im Plenum}
"""
PEOPLE = [
    ("Anna Beispiel", "anna@example.org", ["2027-11-04"]),
    ("Berkan Yıldız", "berkan@example.org", ["2027-11-04", "2027-11-05"]),
    ("Chiara Rossi", "chiara@example.org", ["2027-11-05"]),
]


def test_registration_asks_for_the_days_and_checks_them() -> None:
    spec = parse_spec(TWO_DAYS, TEMPLATES)
    fields = form_fields(format_for_templates(spec.format), spec)
    days = next(f for f in fields if f.name == "days")
    assert days.type == "multichoice" and days.required
    assert [v for v, _ in days.options] == ["2027-11-04", "2027-11-05"]
    assert days.options[0][1].get("de") == "Donnerstag, 4. November 2027"
    base = {"name": "Anna", "email": "anna@example.org", "privacy_consent": True}
    ok = parse_registration(fields, {**base, "days": ["2027-11-05", "2027-11-04"]}, source="json")
    assert ok.answers["days"] == ["2027-11-04", "2027-11-05"]
    for bad in (["2027-11-06"], [], "2027-11-04"):
        with pytest.raises(ValidationFailed) as caught:
            parse_registration(fields, {**base, "days": bad}, source="json")
        assert [p.field for p in caught.value.problems] == ["days"]


def format_for_templates(name: str):  # type: ignore[no-untyped-def]
    from eventkit.model.formats import discover

    return discover(TEMPLATES)[name]


def test_without_registration_per_day_there_is_no_days_question() -> None:
    spec = parse_spec(TWO_DAYS.replace("registration_per_day: true\n", ""), TEMPLATES)
    assert "days" not in [f.name for f in form_fields(format_for_templates(spec.format), spec)]


def test_registration_per_day_needs_several_days() -> None:
    one_day = TWO_DAYS.replace("end: 2027-11-05T15:00", "end: 2027-11-04T18:00").replace("day: 2, ", "")
    with pytest.raises(ValidationFailed) as caught:
        parse_spec(one_day, TEMPLATES, source="treffen.yaml")
    assert "treffen.yaml:7: registration_per_day: needs an event over more than one day" in caught.value.render("en")
    with pytest.raises(ValidationFailed) as caught:
        parse_spec(TWO_DAYS.replace("registration_per_day: true", "registration_per_day: ja"), TEMPLATES)
    assert "registration_per_day: muss true oder false sein" in caught.value.render("de")


def test_reminders_come_before_the_first_day() -> None:
    spec = parse_spec(TWO_DAYS, TEMPLATES)
    fmt = format_for_templates(spec.format)
    plan = lifecycle.plan(spec, fmt, now=datetime(2027, 1, 1, tzinfo=UTC))
    reminders = {p.name: p.at for p in plan if p.name.startswith("reminder-")}
    berlin = spec.start.tzinfo
    # counted back from the first day's start, at its wall-clock time (28 October is still summer time)
    assert {name: at.astimezone(berlin).replace(tzinfo=None) for name, at in reminders.items()} == {
        "reminder-7d": datetime(2027, 10, 28, 10, 0),
        "reminder-1d": datetime(2027, 11, 3, 10, 0),
    }


@pytest.fixture
def rt(settings: Settings) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(settings)
    yield configured
    configured.store.dispose()


def page_text(pdf: Path, page: int) -> str:
    out = subprocess.run(
        ["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"], capture_output=True, check=True, text=True
    )
    return " ".join(out.stdout.split())


def test_each_days_attendance_sheet_lists_those_registered_for_that_day(rt: runtime.Runtime) -> None:
    spec = parse_spec(TWO_DAYS, TEMPLATES)
    save_event(rt.store, rt.settings, spec)
    with rt.store.session() as session:
        event = find_event(session, spec.slug)
        for name, address, days in PEOPLE:
            person = Person(email=address, name=name, organisation="Verein", language="de")
            session.add(person)
            session.flush()
            session.add(
                Registration(
                    event_id=event.id,
                    person_id=person.id,
                    status="registered",
                    answers={"days": days},
                    token_nonce=new_nonce(),
                )
            )
    result = render_attendance(rt, spec.slug, blank=True)
    assert result.sheets == 2 and result.pages == 2
    first, second = page_text(result.path, 1), page_text(result.path, 2)
    assert "Donnerstag, 4. November 2027" in first and "Freitag, 5. November 2027" in second
    assert "Anna Beispiel" in first and "Berkan Yıldız" in first and "Chiara Rossi" not in first
    assert "Anna Beispiel" not in second and "Berkan Yıldız" in second and "Chiara Rossi" in second
    with rt.store.session() as session:
        assert len(session.scalars(select(Registration)).all()) == 3


def test_invitation_shows_the_programme_per_day(rt: runtime.Runtime) -> None:
    from eventkit.devtools.samples import sample_context

    spec = parse_spec(TWO_DAYS, TEMPLATES)
    context = sample_context(TEMPLATES, "netzwerktreffen", "de", "https://events.example.org")
    from eventkit.events.events import event_view

    context["event"] = event_view(spec, format_for(rt.settings, spec.format))
    out = rt.renderer.email("netzwerktreffen", "invitation", "de", context)
    text = out.text[out.text.index("Programm\n") :]
    assert text.index("Donnerstag, 4. November 2027") < text.index("Preisverleihung")
    assert text.index("Preisverleihung") < text.index("Freitag, 5. November 2027") < text.index("Parallele Workshops")
    assert timedelta(days=1) == spec.days[1] - spec.days[0]

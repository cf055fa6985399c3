"""The attendance list: blank before the event, filled from the check-ins, one sheet per day."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from eventkit import runtime
from eventkit.db.store import Person, Registration
from eventkit.door import checkins
from eventkit.recap.attendance import EMPTY_ROWS_BLANK, attendance_path, render_attendance
from tests.test_multiday import page_text
from tests.test_pdf import pdf_text
from tests.test_recap import PEOPLE, add_event, add_people, rt  # noqa: F401 - rt is a fixture
from tests.test_spec import GOOD


def test_blank_list_has_everyone_registered(rt: runtime.Runtime, tmp_path: Path) -> None:  # noqa: F811
    slug = add_event(rt, "fachvernetzung")
    add_people(rt, slug, town="Meinersen")
    result = render_attendance(rt, slug, blank=True)
    assert result.path == attendance_path(rt, slug, blank=True) and result.names == 4 and result.sheets == 1
    text = pdf_text(result.path.read_bytes(), tmp_path, layout=False)
    assert "Teilnehmendenliste · Fachvernetzung 2027 im Landkreis Gifhorn" in text
    assert "Samstag, 20. November 2027" in text
    for header in ("Nr.", "Name", "Organisation", "Wohnort", "Unterschrift"):
        assert f" {header} " in text
    for name, _, org, *_ in PEOPLE:
        assert name.split()[0] in text and org in text
    assert "Check-in" not in text
    assert f" {4 + EMPTY_ROWS_BLANK} " in text  # numbered empty lines for people without registration
    assert "Meinersen" in text  # the town each gave at registration
    assert "Bitte tragen Sie Ihren Wohnort von Hand ein." not in text
    assert "Blatt 1 von 1" in text


def test_filled_list_has_only_those_checked_in(rt: runtime.Runtime, tmp_path: Path) -> None:  # noqa: F811
    slug = add_event(rt, "netzwerktreffen")
    add_people(rt, slug)
    result = render_attendance(rt, slug)
    assert result.path.name == f"attendance-{slug}.pdf" and result.names == 3
    text = pdf_text(result.path.read_bytes(), tmp_path, layout=False)
    # pdftotext reads the lam-alef ligature of الأحمد back in the wrong order, so only the first name is checked
    assert "Renate Müller" in text and "محمد" in text and "Дмитрий Иванов" in text
    assert "Olena Kovalenko" not in text  # registered, never checked in
    assert "Check-in" in text and "Eingecheckt: 3" in text


def test_one_sheet_per_day(rt: runtime.Runtime, tmp_path: Path) -> None:  # noqa: F811
    two_days = GOOD.replace("end: 2027-11-20T17:00", "end: 2027-11-21T17:00")
    slug = add_event(rt, "fachvernetzung", two_days)
    add_people(rt, slug)
    result = render_attendance(rt, slug, blank=True)
    assert result.sheets == 2 and result.pages == 2
    text = pdf_text(result.path.read_bytes(), tmp_path, layout=False)
    assert "Samstag, 20. November 2027 · Tag 1 von 2" in text and "Sonntag, 21. November 2027 · Tag 2 von 2" in text
    assert text.count("Renate Müller") == 2


def test_a_long_list_repeats_its_header(rt: runtime.Runtime, tmp_path: Path) -> None:  # noqa: F811
    slug = add_event(rt, "barcamp")
    people = [(f"Person {n:03d}", f"p{n}@example.org", f"Verein {n}", True, True, False) for n in range(120)]
    add_people(rt, slug, people)
    result = render_attendance(rt, slug, blank=True, language="en")
    assert result.pages > 3
    text = pdf_text(result.path.read_bytes(), tmp_path, layout=False)
    assert text.count(" No. Name Organisation ") == result.pages  # the header repeats on every page
    assert f"Sheet {result.pages} of {result.pages}" in text


def test_each_days_filled_sheet_lists_those_checked_in_that_day(rt: runtime.Runtime, tmp_path: Path) -> None:  # noqa: F811
    two_days = GOOD.replace("end: 2027-11-20T17:00", "end: 2027-11-21T17:00")
    slug = add_event(rt, "fachvernetzung", two_days)
    add_people(rt, slug, [(n, e, o, listed, photos, False) for n, e, o, listed, photos, _ in PEOPLE])
    with rt.store.session() as session:
        ids = dict(session.execute(select(Person.email, Registration.id).join(Registration)).tuples().all())
    saturday, sunday = date(2027, 11, 20), date(2027, 11, 21)
    for address, day, at in (
        ("renate@example.org", saturday, datetime(2027, 11, 20, 10, 15, tzinfo=UTC)),
        ("dmitri@example.org", saturday, datetime(2027, 11, 20, 11, 5, tzinfo=UTC)),
        ("dmitri@example.org", sunday, datetime(2027, 11, 21, 8, 40, tzinfo=UTC)),
        ("m.alahmad@example.org", sunday, datetime(2027, 11, 21, 9, 2, tzinfo=UTC)),
    ):
        assert checkins.check_in(rt, slug, ids[address], True, day, now=at)
    result = render_attendance(rt, slug)
    assert result.sheets == 2 and result.pages == 2 and result.names == 3
    first, second = page_text(result.path, 1), page_text(result.path, 2)
    assert "Samstag, 20. November 2027 · Tag 1 von 2" in first and "Eingecheckt: 2" in first
    assert "Renate Müller" in first and "Дмитрий Иванов" in first
    assert "محمد" not in first and "Olena" not in first
    assert "20.11. 11:15" in first and "20.11. 12:05" in first and "21.11." not in first  # Berlin time
    assert "Sonntag, 21. November 2027 · Tag 2 von 2" in second and "Eingecheckt: 2" in second
    assert "محمد" in second and "Дмитрий Иванов" in second
    assert "Renate" not in second and "Olena" not in second
    assert "21.11. 09:40" in second and "21.11. 10:02" in second and "20.11." not in second
    # the blank list is as it was: everyone with a place on every day's sheet
    blank = render_attendance(rt, slug, blank=True)
    for page in (1, 2):
        sheet = page_text(blank.path, page)
        assert "Renate Müller" in sheet and "Olena Kovalenko" in sheet and "Check-in" not in sheet


def test_names_in_any_script_are_printed_with_their_letters(
    rt: runtime.Runtime,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slug = add_event(rt, "netzwerktreffen")
    people = [
        ("김지우", "kim@example.org", "Koreanische Gemeinde Frankfurt", True, True, True),
        ("王芳", "wang@example.org", "Chinesischer Kulturverein", True, True, True),
        ("佐藤 花子", "sato@example.org", "Japanisch-Deutsche Gesellschaft", True, True, True),
        ("Σοφία Παπαδοπούλου", "sofia@example.org", "Griechische Gemeinde Nürnberg", True, True, True),
        ("Дмитрий Иванов", "dmitri@example.org", "Союз «Мост»", True, True, True),
    ]
    add_people(rt, slug, people)
    with caplog.at_level(logging.WARNING, logger="weasyprint"):
        result = render_attendance(rt, slug)
    assert not [r.getMessage() for r in caplog.records if "notdef" in r.getMessage()]  # no empty boxes for letters
    text = pdf_text(result.path.read_bytes(), tmp_path, layout=False)
    for name, *_ in people:
        assert name in text

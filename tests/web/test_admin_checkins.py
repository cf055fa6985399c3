"""The organisers' check-in of a multi-day event over HTTP: a day to choose (a GET only chooses), a check-in
per day and its undo, the counts per day, refused days, a CSV column per day; single-day events as before."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from eventkit.db.store import Checkin
from eventkit.runtime import Runtime
from eventkit.web import create_app
from tests.test_checkins import FRIDAY, THURSDAY, add_event, place
from tests.test_spec import GOOD
from tests.web.test_pages import ADMIN, csrf, rt  # noqa: F401 - rt is a fixture


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:  # noqa: F811
    with TestClient(create_app(rt), headers={"Authorization": f"Bearer {ADMIN}"}) as c:
        yield c


def text(page: str) -> str:
    """The page's words as a person reads them, without tags."""
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    return re.sub(r" ([:,.)])", r"\1", words)  # the space a closing tag left before a colon


def row(page: str, registration_id: int) -> str:
    match = re.search(rf'<tr id="r-{registration_id}">(.*?)</tr>', page, re.S)
    assert match, f"no row for registration {registration_id}"
    return match.group(1)


def chosen_day(page: str) -> str:
    match = re.search(r'<a href="[^"]*day=([0-9-]+)[^"]*" aria-current="page">', page)
    assert match, "no day is marked as the current one"
    return match.group(1)


def check_in(client: TestClient, slug: str, registration_id: int, present: bool, day: str | None) -> object:
    page = client.get(f"/admin/events/{slug}")
    data = {"csrf_token": csrf(page.text), "registration_id": str(registration_id), "present": "1" if present else "0"}
    if day is not None:
        data["day"] = day
    return client.post(f"/admin/events/{slug}/checkin", data=data, follow_redirects=False)


def stored(rt: Runtime) -> int:  # noqa: F811
    with rt.store.session() as session:
        return session.scalar(select(func.count()).select_from(Checkin)) or 0


def test_a_multi_day_event_is_checked_in_day_by_day(rt: Runtime, client: TestClient) -> None:  # noqa: F811
    slug = add_event(rt.store, rt.settings)
    anna = place(rt.store, slug, "Anna Beispiel", ["2027-11-04"])
    berkan = place(rt.store, slug, "Berkan Yıldız", ["2027-11-04", "2027-11-05"])
    chiara = place(rt.store, slug, "Chiara Rossi", ["2027-11-05"])

    # without ?day= (today is none of the event's days): the first day
    page = client.get(f"/admin/events/{slug}").text
    assert chosen_day(page) == "2027-11-04"
    words = text(page)
    assert "Check-in pro Tag" in words and "Check-in am 04.11.2027" in words
    assert (
        "Donnerstag, 4. November 2027: 0 eingecheckt" in words and "Freitag, 5. November 2027: 0 eingecheckt" in words
    )
    for registration_id in (anna, berkan, chiara):
        assert '<input type="hidden" name="day" value="2027-11-04">' in row(page, registration_id)
    assert "für diesen Tag nicht angemeldet" in row(page, chiara)
    assert "für diesen Tag nicht angemeldet" not in row(page, anna)

    # choosing a day is a GET: it shows that day and changes nothing
    page = client.get(f"/admin/events/{slug}?day=2027-11-05").text
    assert chosen_day(page) == "2027-11-05" and stored(rt) == 0
    assert '<input type="hidden" name="day" value="2027-11-05">' in row(page, chiara)
    assert "für diesen Tag nicht angemeldet" in row(page, anna)

    r = check_in(client, slug, chiara, True, "2027-11-05")
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert r.headers["location"] == f"/admin/events/{slug}?lang=de&day=2027-11-05#r-{chiara}"  # type: ignore[attr-defined]
    assert check_in(client, slug, berkan, True, "2027-11-04").status_code == 303  # type: ignore[attr-defined]

    friday = client.get(f"/admin/events/{slug}?day=2027-11-05").text
    assert "Donnerstag, 4. November 2027: 1 eingecheckt" in text(friday)
    assert "Freitag, 5. November 2027: 1 eingecheckt" in text(friday)
    assert "anwesend" in row(friday, chiara) and "anwesend" not in row(friday, berkan)
    undo = "Check-in von Chiara Rossi am Freitag, 5. November 2027 rückgängig machen"
    assert f'aria-label="{undo}"' in row(friday, chiara)
    thursday = client.get(f"/admin/events/{slug}?day=2027-11-04").text
    assert "anwesend" in row(thursday, berkan) and "anwesend" not in row(thursday, chiara)
    assert 'aria-label="Berkan Yıldız am Donnerstag, 4. November 2027 einchecken"' not in row(thursday, berkan)
    assert 'aria-label="Anna Beispiel am Donnerstag, 4. November 2027 einchecken"' in row(thursday, anna)
    assert "Eingecheckt: 2" in text(thursday)  # people checked in on any day

    # the CSV has a column per day with the time of that day's check-in
    export = client.get(f"/admin/events/{slug}/registrations.csv")
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    per_day = [header.index("Eingecheckt am 04.11.2027"), header.index("Eingecheckt am 05.11.2027")]
    assert per_day == [header.index("Eingecheckt") + 1, header.index("Eingecheckt") + 2]
    by_name = {r[2]: [r[i] for i in per_day] for r in rows[1:]}
    assert (
        re.fullmatch(r"2\d{3}-\d\d-\d\d \d\d:\d\d", by_name["Berkan Yıldız"][0]) and by_name["Berkan Yıldız"][1] == ""
    )
    assert by_name["Chiara Rossi"][0] == "" and by_name["Chiara Rossi"][1]
    assert by_name["Anna Beispiel"] == ["", ""]

    # undo on one day
    assert check_in(client, slug, chiara, False, "2027-11-05").status_code == 303  # type: ignore[attr-defined]
    friday = client.get(f"/admin/events/{slug}?day=2027-11-05").text
    assert "Freitag, 5. November 2027: 0 eingecheckt" in text(friday) and "anwesend" not in row(friday, chiara)
    with rt.store.session() as session:
        assert [(c.registration_id, c.day) for c in session.scalars(select(Checkin))] == [(berkan, THURSDAY)]


def test_a_day_outside_the_event_is_refused(rt: Runtime, client: TestClient) -> None:  # noqa: F811
    slug = add_event(rt.store, rt.settings)
    anna = place(rt.store, slug, "Anna Beispiel")
    r = check_in(client, slug, anna, True, "2027-11-06")
    assert r.status_code == 400  # type: ignore[attr-defined]
    assert "day: 2027-11-06 ist kein Tag der Veranstaltung (2027-11-04 bis 2027-11-05)" in text(r.text)  # type: ignore[attr-defined]
    r = check_in(client, slug, anna, True, "Freitag")
    assert r.status_code == 400 and "day: 'Freitag' ist kein Datum" in text(r.text)  # type: ignore[attr-defined]
    assert stored(rt) == 0
    # a GET with a day that is not the event's shows the first day
    page = client.get(f"/admin/events/{slug}?day=2027-12-24")
    assert page.status_code == 200 and chosen_day(page.text) == "2027-11-04"


def test_the_english_page_says_it_in_english(rt: Runtime, client: TestClient) -> None:  # noqa: F811
    slug = add_event(rt.store, rt.settings)
    anna = place(rt.store, slug, "Anna Beispiel")
    assert check_in(client, slug, anna, True, FRIDAY.isoformat()).status_code == 303  # type: ignore[attr-defined]
    page = client.get(f"/admin/events/{slug}?lang=en&day=2027-11-05").text
    words = text(page)
    assert "Check-in per day" in words and "Friday, 5 November 2027: 1 checked in" in words
    assert 'aria-label="Undo check-in of Anna Beispiel on Friday, 5 November 2027"' in row(page, anna)
    export = client.get(f"/admin/events/{slug}/registrations.csv?lang=en")
    header = next(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert "Checked in on 4 Nov 2027" in header and "Checked in on 5 Nov 2027" in header


def test_a_single_day_event_is_checked_in_as_before(rt: Runtime, client: TestClient) -> None:  # noqa: F811
    slug = add_event(rt.store, rt.settings, GOOD)
    anna = place(rt.store, slug, "Anna Beispiel")
    page = client.get(f"/admin/events/{slug}").text
    assert 'name="day"' not in page and "Check-in pro Tag" not in page and 'aria-current="page"' not in page
    assert 'aria-label="Anna Beispiel einchecken"' in row(page, anna)
    r = check_in(client, slug, anna, True, None)
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert r.headers["location"] == f"/admin/events/{slug}?lang=de#r-{anna}"  # type: ignore[attr-defined]
    page = client.get(f"/admin/events/{slug}").text
    assert "anwesend" in row(page, anna) and "Eingecheckt: 1" in text(page)
    with rt.store.session() as session:
        [mark] = session.scalars(select(Checkin)).all()
    assert mark.registration_id == anna and mark.day.isoformat() == "2027-11-20"  # the event's only day
    header = next(csv.reader(io.StringIO(client.get(f"/admin/events/{slug}/registrations.csv").text), delimiter=";"))
    assert not any(h.startswith("Eingecheckt am") for h in header)
    assert check_in(client, slug, anna, False, None).status_code == 303  # type: ignore[attr-defined]
    assert stored(rt) == 0

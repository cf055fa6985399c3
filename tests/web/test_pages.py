"""The pages as a person uses them (without a browser): the whole path from the form through the opt-in
email to the personal page and the cancellation; CSRF; GETs that change nothing; closed registration;
the organisers' pages refusing requests without the token; CSV export and check-in."""

from __future__ import annotations

import csv
import email
import io
import re
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from eventkit.db.store import OutboxMessage, Registration
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from eventkit.runtime import Runtime
from eventkit.web import create_app
from tests.conftest import TEMPLATES, make_settings
from tests.test_spec import GOOD

ADMIN = "organiser-token-" + "x" * 20


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(
        make_settings(tmp_path, database_url, EVENTKIT_ADMIN_TOKEN=ADMIN, EVENTKIT_RATE_LIMIT="off")
    )
    yield runtime
    runtime.store.dispose()


def make_event(rt: Runtime, text: str = GOOD, capacity: int = 40) -> str:
    spec = parse_spec(text.replace("capacity: 40", f"capacity: {capacity}"), TEMPLATES)
    save_event(rt.store, rt.settings, spec)
    return spec.slug


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def mails(rt: Runtime, count: int, timeout: float = 10.0) -> list[Message]:
    """The .eml files the app's delivery wrote, once there are `count` of them."""
    deadline = time.monotonic() + timeout
    while True:
        # in the order they were written to the outbox (the file name ends in the outbox id)
        files = sorted(rt.settings.mail_dir.glob("*.eml"), key=lambda f: int(f.stem.rsplit("-", 1)[1]))
        if len(files) >= count or time.monotonic() > deadline:
            return [email.message_from_bytes(f.read_bytes()) for f in files]
        time.sleep(0.05)


def text_of(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    return ""


def path_in(msg: Message, marker: str) -> str:
    match = re.search(r"https://events\.example\.org(/e/[^\s>]*" + re.escape(marker) + r"[^\s>]*)", text_of(msg))
    assert match, f"no {marker} link in the email"
    return match.group(1)


def register(client: TestClient, slug: str, **fields: object) -> object:
    page = client.get(f"/e/{slug}/register")
    data = {"csrf_token": csrf(page.text), "privacy_consent": "on", **fields}
    return client.post(f"/e/{slug}/register", data=data, follow_redirects=False)


def registrations_count(rt: Runtime) -> int:
    with rt.store.session() as s:
        return s.scalar(select(func.count()).select_from(Registration)) or 0


def test_public_registration_from_form_to_cancellation(rt: Runtime) -> None:
    slug = make_event(rt, capacity=1)
    with TestClient(create_app(rt)) as client:
        page = client.get(f"/e/{slug}")
        assert page.status_code == 200 and 'lang="de"' in page.text and "Jetzt anmelden" in page.text
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.headers["referrer-policy"] == "no-referrer"

        r = register(client, slug, name="Дмитрий Müller", email="dmitri@example.org", support_needs=["step_free"])
        assert r.status_code == 303 and r.headers["location"].startswith(f"/e/{slug}/check-mail")
        [optin] = mails(rt, 1)
        assert "Дмитрий Müller" in str(email.header.make_header(email.header.decode_header(optin["To"])))
        confirm_path = path_in(optin, "/confirm?t=")

        # following the link shows a button and changes nothing (mail scanners open links too)
        page = client.get(confirm_path)
        assert page.status_code == 200 and registrations_count(rt) == 1
        with rt.store.session() as s:
            assert s.scalars(select(Registration.status)).one() == "pending"
        token = confirm_path.split("?t=", 1)[1]
        r = client.post(f"/e/{slug}/confirm", data={"csrf_token": csrf(page.text), "t": token}, follow_redirects=False)
        assert r.status_code == 303 and "/manage?t=" in r.headers["location"]
        manage = client.get(r.headers["location"])
        assert "status-registered" in manage.text
        assert "Дмитрий Müller" in manage.text

        confirmed = mails(rt, 2)[1]
        assert confirmed["Subject"] and "Fachvernetzung" in str(
            email.header.make_header(email.header.decode_header(confirmed["Subject"]))
        )
        calendars = [p for p in confirmed.walk() if p.get_content_type() == "text/calendar"]
        assert calendars and calendars[0].get_param("method") == "REQUEST"

        # someone waits for the only place; the cancellation (a POST after a confirmation step) promotes them
        r = register(client, slug, name="محمد الأحمد", email="m@example.org")
        waiting_optin = mails(rt, 3)[2]
        wait_path = path_in(waiting_optin, "/confirm?t=")
        page = client.get(wait_path)
        client.post(
            f"/e/{slug}/confirm",
            data={"csrf_token": csrf(page.text), "t": wait_path.split("?t=", 1)[1]},
        )
        manage_path = path_in(confirmed, "/manage?t=")
        cancel_page = client.get(manage_path.replace("/manage?", "/cancel?"))
        assert cancel_page.status_code == 200
        with rt.store.session() as s:
            assert sorted(s.scalars(select(Registration.status))) == ["registered", "waitlisted"]
        client.post(
            f"/e/{slug}/cancel",
            data={"csrf_token": csrf(cancel_page.text), "t": manage_path.split("?t=", 1)[1]},
        )
        with rt.store.session() as s:
            assert sorted(s.scalars(select(Registration.status))) == ["cancelled", "registered"]
        subjects = [str(email.header.make_header(email.header.decode_header(m["Subject"]))) for m in mails(rt, 6)]
        assert len(subjects) == 6, subjects  # optin, confirmed, optin, waitlisted, cancelled, promoted
        cancellation = [
            m for m in mails(rt, 6)
            if any(p.get_content_type() == "text/calendar" and p.get_param("method") == "CANCEL" for p in m.walk())
        ]  # fmt: skip
        assert len(cancellation) == 1 and cancellation[0]["To"].endswith("<dmitri@example.org>")


def test_forms_without_the_csrf_token_change_nothing(rt: Runtime) -> None:
    slug = make_event(rt)
    with TestClient(create_app(rt)) as client:
        client.get(f"/e/{slug}/register")  # has the cookie, but not the field
        r = client.post(f"/e/{slug}/register", data={"name": "A", "email": "a@example.org", "privacy_consent": "on"})
        assert r.status_code == 400 and "Formular" in r.text
        r = client.post(
            f"/e/{slug}/register",
            data={"name": "A", "email": "a@example.org", "privacy_consent": "on", "csrf_token": "forged"},
        )
        assert r.status_code == 400
    with TestClient(create_app(rt)) as other:  # another browser's token does not fit this browser's cookie
        page = other.get(f"/e/{slug}/register")
        token = csrf(page.text)
    with TestClient(create_app(rt)) as client:
        client.get(f"/e/{slug}/register")
        r = client.post(
            f"/e/{slug}/register",
            data={"name": "A", "email": "a@example.org", "privacy_consent": "on", "csrf_token": token},
        )
        assert r.status_code == 400
    assert registrations_count(rt) == 0


def test_errors_name_each_field_keep_the_input_and_speak_the_readers_language(rt: Runtime) -> None:
    slug = make_event(rt)
    with TestClient(create_app(rt)) as client:
        page = client.get(f"/e/{slug}/register?lang=en")
        r = client.post(
            f"/e/{slug}/register",
            data={"csrf_token": csrf(page.text), "lang": "en", "name": "N" * 10_000, "email": "not-an-address",
                  "organisation": "Verein <b>Vielfalt</b>"},
        )  # fmt: skip
        assert r.status_code == 422
        assert 'lang="en"' in r.text and "Please check your entries" in r.text
        assert 'href="#field-name"' in r.text and 'href="#field-email"' in r.text
        assert 'href="#field-privacy_consent"' in r.text
        assert 'aria-describedby="error-email' in r.text and 'aria-invalid="true"' in r.text
        assert "too long" in r.text
        assert 'value="not-an-address"' in r.text  # what was typed stays
        assert "Verein &lt;b&gt;Vielfalt&lt;/b&gt;" in r.text and "<b>Vielfalt</b>" not in r.text
        page = client.get(f"/e/{slug}/register")
        r = client.post(
            f"/e/{slug}/register",
            data={"csrf_token": csrf(page.text), "name": "Anna\x00Schmidt", "email": "anna@example.org"},
        )
        assert r.status_code == 422 and "Bitte überprüfen Sie Ihre Angaben" in r.text
    assert registrations_count(rt) == 0


def test_gets_change_nothing(rt: Runtime) -> None:
    slug = make_event(rt)
    with TestClient(create_app(rt)) as client:
        register(client, slug, name="Olena", email="olena@example.org")
        [optin] = mails(rt, 1)
        confirm_path = path_in(optin, "/confirm?t=")
        with rt.store.session() as s:
            before = [(r.status, r.revision) for r in s.scalars(select(Registration))]
            outbox_before = s.scalar(select(func.count()).select_from(OutboxMessage))
        cancel_path, manage_path = (
            confirm_path.replace("/confirm?", "/cancel?"),
            confirm_path.replace("/confirm?", "/manage?"),
        )
        for path in (f"/e/{slug}", f"/e/{slug}/register", confirm_path, f"/e/{slug}/event.ics", "/healthz",
                     cancel_path, manage_path):  # fmt: skip
            assert client.get(path).status_code in (200, 404)
        with rt.store.session() as s:
            assert [(r.status, r.revision) for r in s.scalars(select(Registration))] == before
            assert s.scalar(select(func.count()).select_from(OutboxMessage)) == outbox_before
        # a confirm link is no manage link
        assert client.get(confirm_path.replace("/confirm?", "/manage?")).status_code == 404


def test_after_the_deadline_the_form_says_closed(rt: Runtime) -> None:
    past = (
        GOOD.replace("start: 2027-11-20T12:00", "start: 2026-01-20T12:00")
        .replace("end: 2027-11-20T17:00", "end: 2026-01-20T17:00")
        .replace("registration_deadline: 2027-11-16T23:59", "registration_deadline: 2026-01-16T23:59")
    )
    slug = make_event(rt, past)
    with TestClient(create_app(rt)) as client:
        page = client.get(f"/e/{slug}/register")
        assert "Die Anmeldung für diese Veranstaltung ist geschlossen." in page.text
        assert "<form" not in page.text
        token = csrf(client.get("/admin").text)  # a form that was open in another tab before the deadline
        r = client.post(
            f"/e/{slug}/register",
            data={"csrf_token": token, "name": "Spät", "email": "late@example.org", "privacy_consent": "on"},
        )
        assert r.status_code == 409
    assert registrations_count(rt) == 0


def test_an_unknown_event_is_a_404_page(rt: Runtime) -> None:
    with TestClient(create_app(rt)) as client:
        r = client.get("/e/no-such-event")
        assert r.status_code == 404 and 'lang="de"' in r.text
        r = client.get("/e/no-such-event", headers={"Accept-Language": "en-GB,en;q=0.9"})
        assert r.status_code == 404 and 'lang="en"' in r.text


def test_the_public_calendar_file_has_no_attendee_and_no_personal_link(rt: Runtime) -> None:
    slug = make_event(rt)
    with TestClient(create_app(rt)) as client:
        r = client.get(f"/e/{slug}/event.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    body = r.text.replace("\r\n ", "")
    assert "METHOD:PUBLISH" in body and "ATTENDEE" not in body and "?t=" not in body
    import icalendar

    event = icalendar.Calendar.from_ical(r.content).walk("VEVENT")[0]
    assert str(event["UID"]).startswith(slug)


def test_the_organisers_pages_refuse_requests_without_the_token(rt: Runtime) -> None:
    slug = make_event(rt)
    with TestClient(create_app(rt)) as client:
        for path in ("/admin", "/admin/events", f"/admin/events/{slug}", f"/admin/events/{slug}/registrations.csv"):
            r = client.get(path)
            assert r.status_code == 401, path
            assert "Dmitri" not in r.text
            r = client.get(path, headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401, path
        r = client.post(f"/admin/events/{slug}/checkin", data={"registration_id": "1", "present": "1"})
        assert r.status_code == 401
        page = client.get("/admin")
        r = client.post("/admin/login", data={"csrf_token": csrf(page.text), "token": "guess"})
        assert r.status_code == 401 and "Admin" not in r.headers.get("set-cookie", "")


def test_organisers_see_export_and_check_in(rt: Runtime) -> None:
    slug = make_event(rt, capacity=1)
    with TestClient(create_app(rt)) as client:
        for name, address, needs in (("Дмитрий Müller", "d@example.org", ["sign_language"]),
                                     ("=HYPERLINK(\"x\")", "eve@example.org", [])):  # fmt: skip
            register(client, slug, name=name, email=address, support_needs=needs)
        for msg in mails(rt, 2):
            path = path_in(msg, "/confirm?t=")
            page = client.get(path)
            client.post(f"/e/{slug}/confirm", data={"csrf_token": csrf(page.text), "t": path.split("?t=", 1)[1]})
        login = client.get("/admin")
        r = client.post(
            "/admin/login", data={"csrf_token": csrf(login.text), "token": ADMIN, "next": f"/admin/events/{slug}"}
        )
        assert r.status_code == 200 and "Дмитрий Müller" in r.text
        assert "Gebärdensprachdolmetschen (DGS)" in r.text  # a support need to prepare
        export = client.get(f"/admin/events/{slug}/registrations.csv")
        assert export.status_code == 200 and export.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
        assert rows[0][:3] == ["Status", "Position auf der Warteliste", "Name"]
        names = {row[2]: row for row in rows[1:]}
        assert names["Дмитрий Müller"][0] == "angemeldet"
        assert '\'=HYPERLINK("x")' in names  # a formula is defused for spreadsheet programs
        with rt.store.session() as s:
            reg_id = s.scalars(select(Registration.id).where(Registration.status == "registered")).one()
        admin_page = client.get(f"/admin/events/{slug}")
        r = client.post(
            f"/admin/events/{slug}/checkin",
            data={"csrf_token": csrf(admin_page.text), "registration_id": str(reg_id), "present": "1"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        with rt.store.session() as s:
            assert s.get(Registration, reg_id).checked_in_at is not None  # type: ignore[union-attr]
        # the bearer token works for scripts
        api = TestClient(create_app(rt))
        r = api.get(f"/api/events/{slug}/registrations", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200 and {x["status"] for x in r.json()["registrations"]} == {"registered", "waitlisted"}


def test_rate_limit_answers_429_and_stores_nothing(tmp_path: Path) -> None:
    runtime = Runtime.from_settings(
        make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", EVENTKIT_RATE_LIMIT="2/minute")
    )
    slug = make_event(runtime)
    with TestClient(create_app(runtime)) as client:
        statuses = [
            register(client, slug, name=f"P{i}", email=f"p{i}@example.org").status_code  # type: ignore[attr-defined]
            for i in range(3)
        ]
        assert statuses == [303, 303, 429]
    assert registrations_count(runtime) == 2
    runtime.store.dispose()

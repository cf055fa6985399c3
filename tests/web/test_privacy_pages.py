"""The privacy pages without a browser: RFC 8058 one-click unsubscribe (POST unsubscribes, GET does not),
bad links as clear 4xx pages, a later campaign skipping the person, the privacy notice in German and
English (and a format's own), the consents on the personal page."""

from __future__ import annotations

import email
import email.policy
import re
import shutil
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from eventkit.consent import consents
from eventkit.core.tokens import signed_token
from eventkit.db.store import ConsentRecord, Invitation, OutboxMessage, Person, Registration
from eventkit.invitations.invitations import import_invitees, plan_batches, prepare_batch
from eventkit.model.invitees import Invitee
from eventkit.model.spec import EventSpec
from eventkit.registration import rules
from eventkit.runtime import Runtime
from eventkit.web import create_app
from tests.conftest import TEMPLATES, make_settings
from tests.test_retention import attend, make_event
from tests.web.test_pages import csrf

AYSE = "ayse@example.org"


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url, EVENTKIT_RATE_LIMIT="off"))
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt)) as c:
        yield c


def invitation_email(rt: Runtime, spec: EventSpec, address: str = AYSE) -> Message:
    import_invitees(rt.store, spec.slug, [Invitee(address, "Ayşe Yılmaz", None, "de", 2)])
    for first, last in plan_batches(rt.store, spec.slug, 10):
        prepare_batch(rt.store, rt.settings, rt.renderer, spec.slug, first, last)
    with rt.store.session() as session:
        raw = session.scalars(
            select(OutboxMessage.raw).where(OutboxMessage.kind == "invitation", OutboxMessage.recipient == address)
        ).one()
    assert raw is not None
    return email.message_from_bytes(raw)


def unsubscribe_path(message: Message) -> str:
    header = str(message["List-Unsubscribe"]).replace("\r\n", "").replace("\n", "").strip()
    match = re.match(
        r"<https://events\.example\.org(/u/[^>]+)>, <mailto:info@qng\.example\.org\?subject=unsubscribe>$", header
    )
    assert match, header
    return match.group(1)


def unsubscribed(rt: Runtime, address: str = AYSE) -> bool:
    with rt.store.session() as session:
        person_id = session.scalars(select(Person.id).where(Person.email == address)).one()
        return person_id in consents.unsubscribed_ids(session, [person_id])


def test_invitations_carry_one_click_unsubscribe_headers(rt: Runtime) -> None:
    message = invitation_email(rt, make_event(rt, "kommend", -40))
    assert unsubscribe_path(message).startswith("/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len(message.get_all("List-Unsubscribe") or []) == 1  # folded, never split into a header of its own


def test_the_invitation_shows_the_same_unsubscribe_link_in_its_text_and_html(rt: Runtime) -> None:
    spec = make_event(rt, "kommend", -40)
    message = email.message_from_bytes(invitation_email(rt, spec).as_bytes(), policy=email.policy.default)
    url = "https://events.example.org" + unsubscribe_path(message)
    text = message.get_body(("plain",)).get_content()  # type: ignore[attr-defined]
    assert f"Mit einem Klick abmelden:\n{url}\n" in text
    body = message.get_body(("html",)).get_content()  # type: ignore[attr-defined]
    assert f'<a href="{url}"' in body and ">Abbestellen</a>" in body
    other = email.message_from_bytes(
        invitation_email(rt, spec, "dmitri@example.org").as_bytes(), policy=email.policy.default
    )
    assert url not in other.get_body(("plain",)).get_content()  # type: ignore[attr-defined]  # each their own


def test_get_shows_a_button_and_changes_nothing_post_unsubscribes(rt: Runtime, client: TestClient) -> None:
    spec = make_event(rt, "kommend", -40)
    path = unsubscribe_path(invitation_email(rt, spec))
    for _ in range(2):  # a link scanner, then the person
        page = client.get(path)
        assert page.status_code == 200 and f'action="{path}"' in page.text and "Abbestellen" in page.text
        assert page.headers["cache-control"] == "no-store"
    assert not unsubscribed(rt)

    # RFC 8058: the mail provider's POST, without cookies or a CSRF token
    fresh = TestClient(create_app(rt))
    response = fresh.post(
        path, content=b"List-Unsubscribe=One-Click", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 200 and "Sie sind abgemeldet" in response.text
    assert unsubscribed(rt)
    again = fresh.post(path, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    with rt.store.session() as session:
        records = session.scalars(select(ConsentRecord)).all()
        # an objection to the organisers' list, not the withdrawal of a consent nobody gave
        assert [(r.kind, r.granted, r.source, r.event_id) for r in records] == [
            ("organiser_list", False, "unsubscribe-link", None)
        ]
    assert "Sie sind abgemeldet" in client.get(path).text


def test_a_later_campaign_skips_the_person(rt: Runtime, client: TestClient) -> None:
    first = make_event(rt, "erstes", -40)
    path = unsubscribe_path(invitation_email(rt, first))
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    later = make_event(rt, "zweites", -80)
    summary = import_invitees(
        rt.store,
        later.slug,
        [Invitee(AYSE, "Ayşe Yılmaz", None, "de", 2), Invitee("jonas@example.org", "Jonas", None, "de", 3)],
    )
    assert (summary.invited, summary.unsubscribed) == (1, 1)
    with rt.store.session() as session:
        invited = session.scalars(select(Person.email).join(Invitation).where(Invitation.event_id == 2)).all()
    assert invited == ["jonas@example.org"]


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # altered
        lambda t: "999999." + t.split(".", 1)[1],  # another person's id
        lambda t: "kaputt",  # not a token at all
    ],
)
def test_bad_unsubscribe_links_are_a_clear_404(rt: Runtime, client: TestClient, mangle: object) -> None:
    path = unsubscribe_path(invitation_email(rt, make_event(rt, "kommend", -40)))
    bad = "/u/" + mangle(path.removeprefix("/u/"))  # type: ignore[operator]
    for response in (client.get(bad), client.post(bad, data={"List-Unsubscribe": "One-Click"})):
        assert response.status_code == 404
        assert "Dieser Abmeldelink ist nicht gültig" in response.text
    assert not unsubscribed(rt)


def test_a_token_for_another_purpose_does_not_unsubscribe(rt: Runtime, client: TestClient) -> None:
    invitation_email(rt, make_event(rt, "kommend", -40))
    with rt.store.session() as session:
        person = session.scalars(select(Person).where(Person.email == AYSE)).one()
        other = signed_token(rt.settings.secret_key, "manage", person.id, person.email)
    assert client.post(f"/u/{other}", data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert not unsubscribed(rt)


def test_privacy_notice_in_german_and_english(rt: Runtime, client: TestClient) -> None:
    spec = make_event(rt, "kommend", -40, extra="privacy_notice_version: 3\nretention_months: 4\n")
    german = client.get(f"/e/{spec.slug}/privacy")
    assert german.status_code == 200 and 'lang="de"' in german.text
    for text in ("Datenschutzhinweise", "Version 3", "Queeres Netzwerk Gifhorn e.V.", "4 Monate nach der Veranstaltung",
                 "10 Jahre aufbewahren", "Art. 17"):  # fmt: skip
        assert text in german.text, text
    english = client.get(f"/e/{spec.slug}/privacy?lang=en")
    assert english.status_code == 200 and 'lang="en"' in english.text
    assert "Privacy notice" in english.text and "deleted 4 months after the event" in english.text
    form = client.get(f"/e/{spec.slug}/register")
    assert f'href="/e/{spec.slug}/privacy"' in form.text and "spätestens 4 Monate" in form.text
    assert client.get("/e/no-such-event/privacy").status_code == 404


def test_a_format_can_have_its_own_privacy_notice(tmp_path: Path, database_url: str) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    own = templates / "formats" / "fachvernetzung" / "web" / "privacy.html"
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text('{% extends "web/base.html" %}{% block content %}<h1>Unser eigener Text</h1>{% endblock %}')
    rt = Runtime.from_settings(make_settings(tmp_path, database_url, EVENTKIT_TEMPLATE_DIR=str(templates)))
    try:
        spec = make_event(rt, "kommend", -40)
        with TestClient(create_app(rt)) as client:
            assert "Unser eigener Text" in client.get(f"/e/{spec.slug}/privacy").text
    finally:
        rt.store.dispose()


def test_personal_page_shows_consents_and_records_a_withdrawal(rt: Runtime, client: TestClient) -> None:
    spec = make_event(rt, "kommend", -40)
    registration_id = attend(rt, spec, AYSE, "Ayşe Yılmaz", present=False)
    with rt.store.session() as session:
        registration = session.get(Registration, registration_id)
        assert registration is not None
        token = rules.manage_token(rt, registration)
    page = client.get(f"/e/{spec.slug}/manage?t={token}")
    assert page.status_code == 200 and "Ihre Einwilligungen" in page.text
    assert 'id="consent-photos" name="photos" checked' in page.text
    assert "Datenschutzhinweise (Version 1)" in page.text and "Anmeldeformular" in page.text

    before = client.get(f"/e/{spec.slug}/manage?t={token}")
    data = {"csrf_token": csrf(before.text), "t": token, "lang": "de", "future_invitations": "on"}
    response = client.post(f"/e/{spec.slug}/consents", data=data, follow_redirects=False)
    assert response.status_code == 303 and "saved=1" in response.headers["location"]
    with rt.store.session() as session:
        records = session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)).all()
        changes = [(r.kind, r.granted, r.source) for r in records if r.source == "manage-page"]
        assert ("photos", False, "manage-page") in changes
        assert ("future_invitations", True, "manage-page") in changes
        registration = session.get(Registration, registration_id)
        assert registration is not None and registration.answers["photo_consent"] is False
    after = client.get(f"/e/{spec.slug}/manage?t={token}")
    assert 'id="consent-photos" name="photos">' in after.text and "widerrufen" in after.text

    # saving again changes nothing: no second record (and the unticked naming box, never granted, records
    # nothing at all: not choosing is not a withdrawal)
    client.post(f"/e/{spec.slug}/consents", data={**data, "csrf_token": csrf(after.text)}, follow_redirects=False)
    with rt.store.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(ConsentRecord).where(ConsentRecord.source == "manage-page"))
            == 2
        )

    # without the CSRF token, or with a wrong personal link, nothing changes
    assert client.post(f"/e/{spec.slug}/consents", data={"t": token, "photos": "on"}).status_code == 400
    bad = client.post(
        f"/e/{spec.slug}/consents", data={**data, "csrf_token": csrf(after.text), "t": "1.xyz", "photos": "on"}
    )
    assert bad.status_code == 404
    with rt.store.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(ConsentRecord).where(ConsentRecord.source == "manage-page"))
            == 2
        )


def manage_page(rt: Runtime, spec: EventSpec, registration_id: int) -> str:
    with rt.store.session() as session:
        registration = session.get(Registration, registration_id)
        assert registration is not None
        return f"/e/{spec.slug}/manage?t={rules.manage_token(rt, registration)}"


def invitation_records(rt: Runtime) -> list[tuple[str, bool, str]]:
    with rt.store.session() as session:
        rows = session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.kind.in_(("future_invitations", "organiser_list")))
            .order_by(ConsentRecord.id)
        )
        return [(r.kind, r.granted, r.source) for r in rows]


def test_a_consent_box_is_ticked_only_when_a_record_grants_it(rt: Runtime, client: TestClient) -> None:
    spec = make_event(rt, "kommend", -40)
    registration_id = attend(rt, spec, AYSE, "Ayşe Yılmaz", present=False)
    url = manage_page(rt, spec, registration_id)
    page = client.get(url).text
    assert invitation_records(rt) == []
    assert "Einladungen zu künftigen Veranstaltungen der Veranstaltenden" in page
    assert 'name="future_invitations" checked' not in page  # not ticked: nobody gave this consent
    assert 'name="future_invitations" aria-describedby' in page
    # the organisers' own list is shown apart, as what it is, with the way to stop it
    assert "von ihrer eigenen Liste einladen: Dafür braucht es keine Einwilligung" in page
    assert 'href="https://events.example.org/u/' in page

    # saving the form for another choice records no consent to invitations, and no withdrawal either
    data = {"csrf_token": csrf(page), "t": url.split("t=")[1], "lang": "de"}
    assert client.post(f"/e/{spec.slug}/consents", data=data, follow_redirects=False).status_code == 303
    assert invitation_records(rt) == []
    assert 'name="future_invitations" checked' not in client.get(url).text

    # ticked and saved: a record grants it, and the box shows it
    page = client.get(url).text
    client.post(
        f"/e/{spec.slug}/consents",
        data={**data, "csrf_token": csrf(page), "future_invitations": "on"},
        follow_redirects=False,
    )
    assert invitation_records(rt) == [("future_invitations", True, "manage-page")]
    assert 'name="future_invitations" checked' in client.get(url).text

    # the unsubscribe link objects to the list and withdraws the consent: two records, each of its own kind
    path = unsubscribe_path(invitation_email(rt, make_event(rt, "zweites", -80)))
    client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert invitation_records(rt) == [
        ("future_invitations", True, "manage-page"),
        ("organiser_list", False, "unsubscribe-link"),
        ("future_invitations", False, "unsubscribe-link"),
    ]
    page = client.get(url).text
    assert 'name="future_invitations" checked' not in page
    assert "Sie bekommen keine Einladungen zu neuen Veranstaltungen" in page
    assert "abbestellt" in page and "Einladungen als Teil des Netzwerks der Veranstaltenden" in page


def test_consent_and_the_organisers_list_are_kept_apart(rt: Runtime) -> None:
    spec = make_event(rt, "kommend", -40)
    people = {AYSE: "Ayşe Yılmaz", "jonas@example.org": "Jonas", "lea@example.org": "Lea", "tim@example.org": "Tim"}
    import_invitees(rt.store, spec.slug, [Invitee(a, n, None, "de", 2) for a, n in people.items()])
    with rt.store.session() as session:
        ids = dict(session.execute(select(Person.email, Person.id)).tuples().all())
        consents.record(session, ids["jonas@example.org"], None, consents.FUTURE_INVITATIONS, True, "manage-page")
        consents.record(session, ids["lea@example.org"], None, consents.ORGANISER_LIST, False, "unsubscribe-link")
        # unsubscribed, then gave consent on the personal page: the newer word holds
        consents.record(session, ids["tim@example.org"], None, consents.ORGANISER_LIST, False, "unsubscribe-link")
        consents.record(session, ids["tim@example.org"], None, consents.FUTURE_INVITATIONS, True, "manage-page")
    with rt.store.session() as session:
        everyone = ids.values()
        standing = consents.invitation_standing(session, everyone)
        assert ids[AYSE] not in standing  # never asked: only the organisers' own list may invite her
        assert consents.consented_ids(session, everyone) == {ids["jonas@example.org"], ids["tim@example.org"]}
        assert consents.unsubscribed_ids(session, everyone) == {ids["lea@example.org"]}
    later = make_event(rt, "zweites", -80)
    summary = import_invitees(rt.store, later.slug, [Invitee(a, n, None, "de", 2) for a, n in people.items()])
    assert (summary.invited, summary.unsubscribed) == (3, 1)

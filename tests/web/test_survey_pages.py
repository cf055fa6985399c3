"""The survey pages without a browser: the link from the email, one response per link, wrong links, bad
answers and closed surveys each a clear 4xx page, nothing stored twice (also when two posts race)."""

from __future__ import annotations

import asyncio
import email
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from eventkit.core.tokens import signed_token
from eventkit.db.store import Registration, SurveyResponse, SurveyToken
from eventkit.mail import delivery
from eventkit.mail.transport import transport_for
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime
from eventkit.survey import emails, responses
from eventkit.web import create_app
from tests.conftest import make_settings
from tests.test_survey import PEOPLE, Attendee, add_attendee, make_ended_event
from tests.web.test_pages import csrf

GOOD_ANSWERS = {"overall": "4", "usefulness": "5", "come_again": "maybe", "heard_via": ["online", "other"]}


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url, EVENTKIT_RATE_LIMIT="off"))
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def event(rt: Runtime) -> tuple[EventSpec, list[Attendee]]:
    spec = make_ended_event(rt)
    people = [add_attendee(rt, spec, e, n, lang, present=p) for e, n, lang, p in PEOPLE]
    assert emails.open_survey(rt, spec.slug)["invited"] == 3
    # in a thread of its own: a browser test before this one may leave Playwright's event loop in this one
    with ThreadPoolExecutor(1) as pool:
        done = pool.submit(
            asyncio.run,
            delivery.deliver_pending(rt.store, transport_for(rt), slug=spec.slug, kinds=["survey-invitation"], rt=rt),
        ).result()
    assert done.sent == 3
    return spec, people


def text_of(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise AssertionError("no plain-text part")


def survey_path(rt: Runtime, address: str) -> str:
    """The survey link of the invitation sent to `address`, as a path on the test client."""
    for path in rt.settings.mail_dir.glob("*survey-invitation*.eml"):
        message = email.message_from_bytes(path.read_bytes())
        if address in str(message["To"]):
            match = re.search(r"https://events\.example\.org(/e/[^\s]+/survey\?t=[^\s]+)", text_of(message))
            assert match, "no survey link in the email"
            return match.group(1)
    raise AssertionError(f"no survey invitation to {address}")


def stored(rt: Runtime) -> int:
    with rt.store.session() as session:
        return session.scalar(select(func.count()).select_from(SurveyResponse)) or 0


def answer(client: TestClient, path: str, **changes: object) -> object:
    page = client.get(path)
    assert page.status_code == 200, page.text
    query = parse_qs(urlsplit(path).query)
    data = {"csrf_token": csrf(page.text), "t": query["t"][0], "lang": query.get("lang", [""])[0]}
    return client.post(urlsplit(path).path, data={**data, **GOOD_ANSWERS, **changes}, follow_redirects=False)


def test_the_link_from_the_email_takes_one_response(rt: Runtime, event: tuple[EventSpec, list[Attendee]]) -> None:
    spec, people = event
    path = survey_path(rt, people[0].email)
    with TestClient(create_app(rt)) as client:
        page = client.get(path)
        assert page.status_code == 200 and 'lang="de"' in page.text
        assert "Ihre Meinung zu „Fachvernetzung 2027“" in page.text
        # a scale is a group of radio buttons whose legend is the question; its ends are named
        assert '<fieldset class="field" id="field-overall"' in page.text
        assert "<legend>Wie hat Ihnen die Veranstaltung insgesamt gefallen?" in page.text
        assert 'type="radio" id="field-overall-5" name="overall" value="5"' in page.text
        assert "5 – sehr gut" in page.text and "1 – gar nicht" in page.text
        assert 'type="checkbox" id="field-heard_via-online"' in page.text
        assert '<textarea id="field-improve"' in page.text
        assert page.headers["cache-control"] == "no-store"
        client.get(path)
        assert stored(rt) == 0  # looking changes nothing
        with rt.store.session() as session:
            assert not any(session.scalars(select(SurveyToken.answered)))

        r = client.post(
            f"/e/{spec.slug}/survey",
            data={"csrf_token": csrf(page.text), "t": path.split("?t=", 1)[1], **GOOD_ANSWERS},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == f"/e/{spec.slug}/survey/thanks?lang=de"
        thanks = client.get(r.headers["location"])
        assert thanks.status_code == 200 and "Vielen Dank!" in thanks.text
        assert stored(rt) == 1
        with rt.store.session() as session:
            response = session.scalars(select(SurveyResponse)).one()
        assert response.answers["heard_via"] == ["online", "other"] and response.answers["overall"] == 4

        again = client.get(path)
        assert again.status_code == 409 and "bereits beantwortet" in again.text
        twice = client.post(
            f"/e/{spec.slug}/survey",
            data={"csrf_token": csrf(page.text), "t": path.split("?t=", 1)[1], **GOOD_ANSWERS},
            follow_redirects=False,
        )
        assert twice.status_code == 409 and "bereits beantwortet" in twice.text
    assert stored(rt) == 1


def test_bad_answers_come_back_with_messages_at_their_questions(
    rt: Runtime, event: tuple[EventSpec, list[Attendee]]
) -> None:
    spec, people = event
    path = survey_path(rt, people[0].email)
    with TestClient(create_app(rt)) as client:
        r = answer(client, path, overall="9", come_again="", improve="x" * 4001, heard_via=["online", "radio"])
        assert r.status_code == 422  # type: ignore[attr-defined]
        html = r.text  # type: ignore[attr-defined]
        assert "Bitte überprüfen Sie Ihre Angaben" in html and "<title>Fehler: Umfrage" in html
        assert (
            '<a href="#field-overall">Wie hat Ihnen die Veranstaltung insgesamt gefallen?: '
            "muss eine ganze Zahl von 1 bis 5 sein</a>" in html
        )
        assert 'id="field-overall" tabindex="-1" aria-describedby="error-overall" aria-invalid="true"' in html
        assert 'id="error-come_again"' in html and "ist erforderlich" in html
        assert "ist zu lang (4001 Zeichen, höchstens 4000)" in html
        assert "muss eine Liste mit Werten aus invitation, network, online, other sein" in html
        # what was typed and chosen stays
        assert 'value="online" checked' in html and 'value="5"' in html
        assert stored(rt) == 0

        english = answer(client, path + "&lang=en", overall="")
        assert english.status_code == 422 and "Please check your entries" in english.text  # type: ignore[attr-defined]
        assert "is required" in english.text  # type: ignore[attr-defined]
        assert stored(rt) == 0
        assert answer(client, path).status_code == 303  # type: ignore[attr-defined]
    assert stored(rt) == 1


def test_altered_and_foreign_links_get_a_clear_404(rt: Runtime, event: tuple[EventSpec, list[Attendee]]) -> None:
    spec, people = event
    path = survey_path(rt, people[1].email)
    token = path.split("?t=", 1)[1]
    subject, mac = token.split(".")
    with rt.store.session() as session:
        registration = session.get(Registration, people[1].registration_id)
        row = session.get(SurveyToken, int(subject))
        assert registration is not None and row is not None
        manage = signed_token(rt.settings.secret_key, "manage", registration.id, registration.token_nonce)
        wrong_purpose = signed_token(rt.settings.secret_key, "confirm", row.id, row.nonce)
    bad_tokens = [
        f"{subject}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}",
        f"{int(subject) + 1}.{mac}",
        manage,
        wrong_purpose,
        "",
        "1.%00",
        "x" * 5000,
    ]
    with TestClient(create_app(rt)) as client:
        form = client.get(path)
        for bad in bad_tokens:
            page = client.get(f"/e/{spec.slug}/survey", params={"t": bad})
            assert page.status_code == 404, bad
            assert "Dieser Umfrage-Link ist nicht gültig" in page.text
            r = client.post(
                f"/e/{spec.slug}/survey",
                data={"csrf_token": csrf(form.text), "t": bad, **GOOD_ANSWERS},
                follow_redirects=False,
            )
            assert r.status_code == 404, bad
        english = client.get(f"/e/{spec.slug}/survey?t=nonsense&lang=en")
        assert english.status_code == 404 and "This survey link is not valid" in english.text
        assert client.get(f"/e/no-such-event/survey?t={token}").status_code == 404
    assert stored(rt) == 0


def test_a_closed_survey_says_so(rt: Runtime, event: tuple[EventSpec, list[Attendee]]) -> None:
    spec, people = event
    path = survey_path(rt, people[2].email)
    with TestClient(create_app(rt)) as client:
        form = client.get(path)
        assert responses.close_survey(rt, spec.slug)
        page = client.get(path)
        assert page.status_code == 410 and "Die Umfrage ist beendet" in page.text
        r = client.post(
            f"/e/{spec.slug}/survey",
            data={"csrf_token": csrf(form.text), "t": path.split("?t=", 1)[1], **GOOD_ANSWERS},
            follow_redirects=False,
        )
        assert r.status_code == 410
        assert "The survey is closed" in client.get(path + "&lang=en").text
    assert stored(rt) == 0


def test_without_the_csrf_token_nothing_is_stored(rt: Runtime, event: tuple[EventSpec, list[Attendee]]) -> None:
    spec, people = event
    path = survey_path(rt, people[0].email)
    with TestClient(create_app(rt)) as client:
        r = client.post(
            f"/e/{spec.slug}/survey", data={"t": path.split("?t=", 1)[1], **GOOD_ANSWERS}, follow_redirects=False
        )
        assert r.status_code == 400 and "Sicherheits" in r.text
    assert stored(rt) == 0


def test_english_for_english_speakers_and_on_request(rt: Runtime, event: tuple[EventSpec, list[Attendee]]) -> None:
    spec, people = event
    english_person = next(p for p in people if p.language == "en")
    with TestClient(create_app(rt)) as client:
        page = client.get(survey_path(rt, english_person.email))
        assert page.status_code == 200 and 'lang="en"' in page.text and "Your opinion on" in page.text
        assert "Overall, how did you like the event?" in page.text and "5 – very much" in page.text
        german = client.get(survey_path(rt, people[0].email) + "&lang=en")
        assert 'lang="en"' in german.text and "Send my answers" in german.text


def test_two_posts_at_once_with_one_link_store_one_response(
    rt: Runtime, event: tuple[EventSpec, list[Attendee]]
) -> None:
    spec, people = event
    path = survey_path(rt, people[0].email)
    token = path.split("?t=", 1)[1]
    # two app processes on one database, each with its own browser session
    runtimes = [Runtime.from_settings(rt.settings) for _ in range(2)]
    clients = [TestClient(create_app(other)) for other in runtimes]
    forms = [c.get(path) for c in clients]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post(client: TestClient, form_html: str) -> None:
        data = {"csrf_token": csrf(form_html), "t": token, **GOOD_ANSWERS}
        barrier.wait()
        statuses.append(client.post(f"/e/{spec.slug}/survey", data=data, follow_redirects=False).status_code)

    threads = [threading.Thread(target=post, args=(c, f.text)) for c, f in zip(clients, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client, other in zip(clients, runtimes, strict=True):
        client.close()
        other.store.dispose()
    assert sorted(statuses) == [303, 409]
    assert stored(rt) == 1

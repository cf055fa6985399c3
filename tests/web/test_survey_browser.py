"""The survey in a real browser (headless Chromium): a person answers with keyboard and mouse, in German and
English, and every page passes axe-core's WCAG 2.1 AA checks."""

from __future__ import annotations

import asyncio
import email
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, Response, expect
from sqlalchemy import select

from eventkit.db.store import SurveyResponse
from eventkit.mail import delivery
from eventkit.mail.transport import transport_for
from eventkit.runtime import Runtime
from eventkit.survey import emails, responses
from eventkit.web import create_app
from tests.conftest import make_settings
from tests.test_survey import PEOPLE, make_ended_event
from tests.test_survey import add_attendee as attend
from tests.web.browser import assert_accessible

pytestmark = pytest.mark.browser

TEXTS = {
    "de": {
        "heading": "Ihre Meinung zu „Fachvernetzung 2027“",
        "overall": "Wie hat Ihnen die Veranstaltung insgesamt gefallen?",
        "maybe": "Vielleicht",
        "network": "Über das Netzwerk oder Kolleg*innen",
        "summary": "Bitte überprüfen Sie Ihre Angaben",
        "thanks": "Vielen Dank!",
        "already": "Bereits beantwortet",
    },
    "en": {
        "heading": "Your opinion on “Fachvernetzung 2027”",
        "overall": "Overall, how did you like the event?",
        "maybe": "Maybe",
        "network": "Through the network or colleagues",
        "summary": "Please check your entries",
        "thanks": "Thank you!",
        "already": "Already answered",
    },
}


@dataclass
class Site:
    url: str
    slug: str
    rt: Runtime
    links: dict[str, str]  # survey link by address, as the invitations carry them

    def stored(self) -> list[dict[str, object]]:
        with self.rt.store.session() as session:
            return [dict(r) for r in session.scalars(select(SurveyResponse.answers))]


@pytest.fixture
def site(tmp_path: Path, live_server: Callable[..., str]) -> Iterator[Site]:
    made: list[Site] = []

    def build(base_url: str) -> object:
        settings = make_settings(
            tmp_path,
            f"sqlite:///{tmp_path / 'eventkit.sqlite3'}",
            EVENTKIT_BASE_URL=base_url,
            EVENTKIT_RATE_LIMIT="off",
        )
        rt = Runtime.from_settings(settings)
        spec = make_ended_event(rt)
        for address, name, language, present in PEOPLE:
            attend(rt, spec, address, name, language, present=present)
        emails.open_survey(rt, spec.slug)
        # in a thread of its own: Playwright's sync API keeps an event loop running in this one
        with ThreadPoolExecutor(1) as pool:
            pool.submit(
                asyncio.run,
                delivery.deliver_pending(
                    rt.store, transport_for(rt), slug=spec.slug, kinds=["survey-invitation"], rt=rt
                ),
            ).result()
        links = {}
        for path in settings.mail_dir.glob("*.eml"):
            message = email.message_from_bytes(path.read_bytes())
            body = next(p for p in message.walk() if p.get_content_type() == "text/plain")
            payload = body.get_payload(decode=True)
            assert isinstance(payload, bytes)
            match = re.search(rf"{re.escape(base_url)}/e/{spec.slug}/survey\?t=\S+", payload.decode())
            assert match
            links[str(message["To"]).rsplit("<", 1)[-1].rstrip(">")] = match.group(0)
        made.append(Site(base_url, spec.slug, rt, links))
        return create_app(rt)

    live_server(build=build)
    yield made[0]
    made[0].rt.store.dispose()


def submit(page: Page) -> Response:
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()
    return answer.value


@pytest.mark.parametrize(("address", "language"), [("ayse@example.org", "de"), ("dmitri@example.org", "en")])
def test_a_person_answers_the_survey_with_keyboard_and_mouse(
    page: Page, site: Site, address: str, language: str
) -> None:
    texts = TEXTS[language]
    page.goto(site.links[address])  # the person's language comes with the link
    assert page.get_attribute("html", "lang") == language
    expect(page.get_by_role("heading", level=1)).to_have_text(texts["heading"])
    assert_accessible(page)

    # sending nothing: the required questions are listed at the top, linked to their questions
    answer = submit(page)
    assert answer.status == 422
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text(texts["summary"])
    summary.get_by_role("link", name=re.compile(re.escape(texts["overall"]))).click()
    expect(page.locator("#field-overall")).to_be_focused()
    assert_accessible(page)

    # a scale by keyboard: the group's first radio button, then the arrow keys
    group = page.get_by_role("group", name=re.compile(re.escape(texts["overall"])))
    group.get_by_role("radio").first.focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#field-overall-4")).to_be_checked()
    page.locator("label[for=field-usefulness-5]").click()  # the label, not the small circle
    page.get_by_label(texts["maybe"], exact=True).check()
    page.get_by_label(texts["network"]).check()
    page.locator("#field-improve").click()
    page.keyboard.type("Mehr Zeit für die Arbeitsgruppen.")
    page.keyboard.press("Enter")
    page.keyboard.type("Und Untertitel – ДА!")
    answer = submit(page)
    assert answer.status == 303, answer.text()[:2000]
    expect(page).to_have_url(re.compile(rf"/e/{site.slug}/survey/thanks\?lang={language}$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(texts["thanks"])
    assert_accessible(page)

    [stored] = site.stored()
    assert stored["overall"] == 4 and stored["usefulness"] == 5 and stored["come_again"] == "maybe"
    assert stored["heard_via"] == ["network"]
    assert stored["improve"] == "Mehr Zeit für die Arbeitsgruppen.\nUnd Untertitel – ДА!"

    # the link is used up: a clear page, not the form again
    page.goto(site.links[address])
    expect(page.get_by_role("heading", level=1)).to_have_text(texts["already"])
    assert_accessible(page)
    assert len(site.stored()) == 1


def test_the_pages_for_wrong_links_and_a_closed_survey_are_accessible(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/e/{site.slug}/survey?t=1.nonsense-that-is-long-enough")
    expect(page.locator("main")).to_contain_text("Dieser Umfrage-Link ist nicht gültig")
    assert_accessible(page)
    responses.close_survey(site.rt, site.slug)
    page.goto(site.links["olena@example.org"])
    expect(page.get_by_role("heading", level=1)).to_have_text("Die Umfrage ist beendet")
    assert_accessible(page)

"""The session board in a real browser (headless Chromium): people propose sessions and mark interest through
the real pages, on a desktop and a phone-sized screen, in German and English; the board, the plan page, the
notes page and the organisers' page pass axe-core's WCAG 2.1 AA checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from eventkit.runtime import Runtime
from eventkit.sessions import board as session_board
from eventkit.sessions.notes import notes_link
from eventkit.sessions.planning import plan
from eventkit.sessions.proposals import propose
from eventkit.sessions.publish import publish
from eventkit.web import create_app
from tests.conftest import make_settings
from tests.test_sessions import BARCAMP, PEOPLE, Someone, make_event, register
from tests.web.browser import assert_accessible

pytestmark = pytest.mark.browser

ADMIN = "organiser-token-" + "y" * 24
LANGUAGE_OF = {address: language for address, _name, language in PEOPLE}
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}

TEXTS = {
    "de": {
        "heading": "Session-Pinnwand",
        "title": "Titel der Session",
        "about": "Worum geht es?",
        "propose": "Diese Session vorschlagen",
        "thanks": "Vielen Dank: Ihre Session steht auf der Pinnwand.",
        "summary": "Bitte überprüfen Sie Ihre Angaben",
        "interested": "Ich interessiere mich für „{title}“",
        "unmark": "Meine Markierung bei „{title}“ entfernen",
        "one": "1 Person interessiert",
    },
    "en": {
        "heading": "Session board",
        "title": "Title of the session",
        "about": "What is it about?",
        "propose": "Propose this session",
        "thanks": "Thank you: your session is on the board.",
        "summary": "Please check your entries",
        "interested": "I am interested in “{title}”",
        "unmark": "Remove my mark from “{title}”",
        "one": "1 person interested",
    },
}


@dataclass
class Site:
    url: str
    slug: str
    rt: Runtime
    people: dict[str, Someone]

    def board(self, who: str) -> str:
        return f"{self.url}/e/{self.slug}/sessions?t={self.people[who].token}"


@pytest.fixture
def site(tmp_path: Path, live_server: Callable[..., str]) -> Iterator[Site]:
    made: list[Site] = []

    def build(base_url: str) -> object:
        settings = make_settings(
            tmp_path,
            f"sqlite:///{tmp_path / 'eventkit.sqlite3'}",
            EVENTKIT_BASE_URL=base_url,
            EVENTKIT_RATE_LIMIT="off",
            EVENTKIT_ADMIN_TOKEN=ADMIN,
        )
        rt = Runtime.from_settings(settings)
        spec = make_event(rt, BARCAMP)
        people = {address: register(rt, spec, address, name, language) for address, name, language in PEOPLE}
        made.append(Site(base_url, spec.slug, rt, people))
        return create_app(rt)

    live_server(build=build)
    yield made[0]
    made[0].rt.store.dispose()


def submit(page: Page, button: str) -> int:
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=button, exact=True).click()
    page.wait_for_load_state()
    return answer.value.status


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is wider than the screen: {width}"


@pytest.mark.parametrize(
    ("proposer", "marker", "language"),
    [("ayse@example.org", "gisela@example.org", "de"), ("dmitri@example.org", "m.alahmad@example.org", "en")],
)
@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_propose_a_session_and_mark_interest(
    new_page: Callable[..., Page], site: Site, proposer: str, marker: str, language: str, screen: str
) -> None:
    texts = TEXTS[language]
    options = PHONE if screen == "phone" else {}
    page = new_page(**options)
    page.goto(site.board(proposer))  # the person's own language comes with the link
    assert page.get_attribute("html", "lang") == language
    expect(page.get_by_role("heading", level=1)).to_have_text(texts["heading"])
    assert_accessible(page)
    if screen == "phone":
        no_sideways_scroll(page)

    # nothing typed: the error is listed at the top, linked to its field, and the field says it too
    assert submit(page, texts["propose"]) == 422
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text(texts["summary"])
    summary.get_by_role("link", name=re.compile(re.escape(texts["title"]))).click()
    expect(page.locator("#field-title")).to_be_focused()
    expect(page.get_by_label(re.compile(re.escape(texts["title"])))).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)

    title = {"de": "Mehrsprachige Elternarbeit", "en": "Работа с родителями на нескольких языках"}[language]
    page.get_by_label(re.compile(re.escape(texts["title"]))).fill(title)
    page.get_by_label(texts["about"]).fill("Erfahrungen austauschen – تبادل الخبرات")
    assert submit(page, texts["propose"]) == 303
    expect(page.get_by_role("status")).to_have_text(texts["thanks"])
    card = page.locator("li.session-card", has_text=title)
    expect(card).to_contain_text("تبادل الخبرات")
    assert_accessible(page)

    # someone else marks it, and takes the mark back
    other = new_page(**options)
    other.goto(site.board(marker))
    other_texts = TEXTS[LANGUAGE_OF[marker]]
    button = other_texts["interested"].format(title=title)
    assert submit(other, button) == 303
    card = other.locator("li.session-card", has_text=title)
    expect(card).to_contain_text(other_texts["one"])
    expect(other.get_by_role("button", name=other_texts["unmark"].format(title=title))).to_be_visible()
    assert_accessible(other)
    if screen == "phone":
        no_sideways_scroll(other)
    (view,) = [v for v in session_board.board(site.rt, site.slug) if v.title == title]
    assert view.interest == 1 and view.hosts == (site.people[proposer].name,)
    assert submit(other, other_texts["unmark"].format(title=title)) == 303
    assert [v.interest for v in session_board.board(site.rt, site.slug) if v.title == title] == [0]


def test_marking_works_with_the_keyboard_alone(page: Page, site: Site) -> None:
    ayse = site.people["ayse@example.org"]
    propose(site.rt, site.slug, ayse.token, "Sichtbarkeit der Partnerschaften", "")
    page.goto(site.board("olena@example.org"))
    button = page.get_by_role("button", name="Ich interessiere mich für „Sichtbarkeit der Partnerschaften“")
    button.focus()
    with page.expect_response(lambda r: r.request.method == "POST"):
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    expect(page.locator("li.session-card")).to_contain_text("1 Person interessiert")


@pytest.mark.parametrize("language", ["de", "en"])
def test_plan_notes_and_organiser_pages_are_accessible(
    new_page: Callable[..., Page], site: Site, language: str
) -> None:
    people = site.people
    ids = [
        propose(site.rt, site.slug, people["ayse@example.org"].token, "Elternarbeit", "Austausch"),
        propose(site.rt, site.slug, people["dmitri@example.org"].token, "Фонды и гранты", ""),
        propose(site.rt, site.slug, people["m.alahmad@example.org"].token, "العمل مع الأهل", ""),
    ]
    session_board.set_interest(site.rt, site.slug, people["gisela@example.org"].token, str(ids[0]), True)
    plan(site.rt, site.slug)
    publish(site.rt, site.slug)

    page = new_page(**PHONE)
    page.goto(f"{site.url}/e/{site.slug}/plan?lang={language}")
    expect(page.get_by_role("table")).to_contain_text("العمل مع الأهل")
    assert_accessible(page)
    no_sideways_scroll(page)  # the table scrolls inside its own region, the page does not

    notes = notes_link(site.rt, site.slug, ids[0]) + f"&lang={language}"
    page.goto(notes)
    label = {"de": "Notizen", "en": "Notes"}[language]
    page.get_by_label(label, exact=True).fill("## Ergebnisse\n\n- Elterncafé einmal im Monat")
    assert submit(page, {"de": "Notizen speichern", "en": "Save the notes"}[language]) == 303
    expect(page.locator(".notes-preview li")).to_have_text("Elterncafé einmal im Monat")
    assert_accessible(page)

    admin = new_page(extra_http_headers={"Authorization": f"Bearer {ADMIN}"})
    admin.goto(f"{site.url}/admin/events/{site.slug}/sessions?lang={language}")
    expect(admin.get_by_role("heading", level=1)).to_have_text(
        {"de": "Sessions und Gruppen", "en": "Sessions and groups"}[language]
    )
    assert_accessible(admin)

"""An organiser checks people in on the second day of a two-day event, in headless Chromium, with the keyboard;
the page passes axe-core (WCAG 2.1 AA) before and after, and only that day is marked."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from eventkit.db.store import Checkin
from eventkit.runtime import Runtime
from eventkit.web import create_app
from tests.conftest import make_settings
from tests.test_checkins import FRIDAY, add_event, place
from tests.web.browser import assert_accessible

pytestmark = pytest.mark.browser

TOKEN = "organiser-token-" + "b" * 32


@dataclass
class Site:
    url: str
    slug: str
    rt: Runtime
    people: dict[str, int]


@pytest.fixture
def site(tmp_path: Path, live_server: Callable[..., str]) -> Iterator[Site]:
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'eventkit.sqlite3'}", EVENTKIT_ADMIN_TOKEN=TOKEN, EVENTKIT_RATE_LIMIT="off"
    )
    rt = Runtime.from_settings(settings)
    slug = add_event(rt.store, settings)
    people = {
        "Anna Beispiel": place(rt.store, slug, "Anna Beispiel", ["2027-11-04"]),
        "Berkan Yıldız": place(rt.store, slug, "Berkan Yıldız", ["2027-11-04", "2027-11-05"]),
        "Дмитрий Иванов": place(rt.store, slug, "Дмитрий Иванов", ["2027-11-05"]),
    }
    yield Site(live_server(create_app(rt)), slug, rt, people)
    rt.store.dispose()


def test_checking_in_on_the_second_day_with_the_keyboard(page: Page, site: Site) -> None:
    page.goto(f"{site.url}/admin?lang=en")
    page.locator("#field-token").fill(TOKEN)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("/admin/events"))
    page.goto(f"{site.url}/admin/events/{site.slug}?lang=en")
    days = page.get_by_role("navigation", name="Check-in per day")
    expect(days.locator("[aria-current=page]")).to_contain_text("4 November 2027")  # not during the event: day 1
    assert_accessible(page)

    friday = days.get_by_role("link", name=re.compile("5 November 2027"))
    friday.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"day=2027-11-05"))
    expect(days.locator("[aria-current=page]")).to_contain_text("5 November 2027")
    expect(page.locator(f"#r-{site.people['Anna Beispiel']}")).to_contain_text("not registered for this day")

    button = page.get_by_role("button", name=re.compile(r"^Check in Дмитрий Иванов on .*5 November 2027"))
    button.focus()
    page.keyboard.press("Enter")
    row = page.locator(f"#r-{site.people['Дмитрий Иванов']}")
    expect(row).to_contain_text("present")
    expect(page).to_have_url(re.compile(r"day=2027-11-05"))  # still the Friday
    expect(days).to_contain_text("1 checked in")
    assert_accessible(page)

    with site.rt.store.session() as session:
        marks = session.execute(select(Checkin.registration_id, Checkin.day)).all()
    assert marks == [(site.people["Дмитрий Иванов"], FRIDAY)]

    # the undo is a button too, named for the person and the day
    undo = page.get_by_role("button", name=re.compile(r"^Undo check-in of Дмитрий Иванов on .*5 November 2027"))
    undo.focus()
    page.keyboard.press("Enter")
    expect(row).not_to_contain_text("present")
    with site.rt.store.session() as session:
        assert session.scalars(select(Checkin)).all() == []

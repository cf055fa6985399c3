"""Registration in a real browser: a person registers by keyboard and mouse, and every page passes axe-core."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Page, Response, expect

from eventkit.devtools.mailsink import MailSink
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from eventkit.runtime import Runtime
from eventkit.web import create_app
from tests.conftest import TEMPLATES, make_settings
from tests.test_spec import GOOD
from tests.web.browser import assert_accessible, tab_order

pytestmark = pytest.mark.browser

ADMIN_TOKEN = "organisers-only-" + "7" * 24
NAME = "Дмитрий Müller"
LONG_NAME = "Ä" * 10_000
# what a German and an English page say (the only texts the tests look for besides the person's own)
TEXTS = {
    "de": {
        "register_now": "Jetzt anmelden",
        "heading": "Anmeldung",
        "error_title": "Fehler",
        "summary": "Bitte überprüfen Sie Ihre Angaben",
    },
    "en": {
        "register_now": "Register now",
        "heading": "Registration",
        "error_title": "Error",
        "summary": "Please check your entries",
    },
}


@dataclass
class Site:
    """The app on a live server with one event, and the SMTP server its emails go to."""

    url: str
    slug: str
    rt: Runtime
    sink: MailSink

    def at(self, path: str) -> str:
        return self.url + path

    def mail(self, to: str, number: int, timeout: float = 15) -> EmailMessage:
        """The `number`th message (from 1) sent to `to`, waiting for the app's delivery task."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in list(self.sink.received) if to in r.rcpt_tos]
            if len(found) >= number:
                message = email.message_from_bytes(found[number - 1].data, policy=email.policy.default)
                assert isinstance(message, EmailMessage)
                return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no message {number} to {to} within {timeout}s; received {len(found)}")
            time.sleep(0.1)


@pytest.fixture
def site(tmp_path: Path, sink: MailSink, live_server: Callable[..., str]) -> Iterator[Site]:
    made: list[tuple[Runtime, str]] = []

    def build(base_url: str) -> object:
        settings = make_settings(
            tmp_path,
            f"sqlite:///{tmp_path / 'eventkit.sqlite3'}",
            smtp_url=sink.url,
            EVENTKIT_ADMIN_TOKEN=ADMIN_TOKEN,
            EVENTKIT_BASE_URL=base_url,
            EVENTKIT_RATE_LIMIT="off",
        )
        rt = Runtime.from_settings(settings)
        spec = parse_spec(GOOD, TEMPLATES)
        save_event(rt.store, settings, spec)
        made.append((rt, spec.slug))
        return create_app(rt)

    url = live_server(build=build)
    rt, slug = made[0]
    yield Site(url, slug, rt, sink)
    rt.store.dispose()


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, site: Site, kind: str) -> str:
    """The personal link of a kind (confirm, manage) in the plain-text part, on the live server."""
    match = re.search(rf"{re.escape(site.url)}/e/{site.slug}/{kind}\?t=[^\s>)\]]+", text_part(message))
    assert match, f"no /{kind} link in:\n{text_part(message)}"
    return match.group(0)


def html_lang(page: Page) -> str:
    return str(page.get_attribute("html", "lang"))


def submit(page: Page) -> Response:
    """Clicks the form's submit button and answers the POST's own response (before any redirect)."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("main form button[type=submit]").last.click()
    page.wait_for_load_state()
    return answer.value


def test_a_person_registers_with_keyboard_and_mouse_and_gets_the_calendar_invitation(page: Page, site: Site) -> None:
    address = "dmitri.mueller@example.org"
    page.goto(site.at(f"/e/{site.slug}"))
    assert html_lang(page) == "de"
    page.get_by_role("link", name="Jetzt anmelden").click()
    expect(page).to_have_url(site.at(f"/e/{site.slug}/register"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmeldung")
    assert " ," not in page.locator("main").inner_text()  # date, time and place read as one line

    # mouse into the first field, then type and Tab on as a person does
    page.get_by_role("textbox", name=re.compile(r"^Name")).click()
    page.keyboard.type(NAME)
    page.keyboard.press("Tab")
    page.keyboard.type(address)
    page.keyboard.press("Tab")
    page.keyboard.type("Initiative „Вместе“ e.V.")
    page.get_by_text("Stufenloser Zugang", exact=True).click()  # the label, not the small box
    page.locator("#field-support_other").click()
    page.keyboard.type("Eine Begleitperson kommt mit.")
    page.keyboard.press("Enter")
    page.keyboard.type("Bitte ein ruhiger Raum.")
    page.locator("#field-privacy_consent").focus()
    page.keyboard.press("Space")
    expect(page.locator("#field-privacy_consent")).to_be_checked()
    expect(page.locator("#field-support_needs-step_free")).to_be_checked()
    answer = submit(page)
    assert answer.status == 303, answer.text()[:2000]
    expect(page).to_have_url(re.compile(rf"/e/{site.slug}/check-mail"))
    expect(page.get_by_role("status")).to_be_visible()

    optin = site.mail(address, 1)
    page.goto(link_in(optin, site, "confirm"))
    assert html_lang(page) == "de"
    expect(page.locator("main")).to_contain_text(address)
    submit(page)
    expect(page).to_have_url(re.compile(rf"/e/{site.slug}/manage\?t=.+&new=1"))
    expect(page.get_by_role("status")).to_contain_text(NAME)

    confirmed = site.mail(address, 2)
    assert confirmed["To"].addresses[0].addr_spec == address
    assert confirmed["To"].addresses[0].display_name == NAME
    assert "Fachvernetzung 2027" in confirmed["Subject"]
    calendars = [p for p in confirmed.walk() if p.get_content_type() == "text/calendar"]
    assert len(calendars) == 1
    ics = calendars[0].get_content()
    ics = ics.decode() if isinstance(ics, bytes) else ics
    assert "METHOD:REQUEST" in ics
    assert re.search(rf"ATTENDEE[^:]*:mailto:{re.escape(address)}", ics, re.IGNORECASE)
    assert calendars[0].get_param("method") in (None, "REQUEST")

    # the personal link in the email shows what was entered
    page.goto(link_in(confirmed, site, "manage"))
    expect(page.locator("#field-name")).to_have_value(NAME)
    expect(page.locator("#field-organisation")).to_have_value("Initiative „Вместе“ e.V.")
    expect(page.locator("#field-support_needs-step_free")).to_be_checked()
    expect(page.locator("#field-support_other")).to_have_value("Eine Begleitperson kommt mit.\nBitte ein ruhiger Raum.")


@pytest.mark.parametrize("language", ["de", "en"])
def test_a_form_with_errors_says_what_to_fix_and_keeps_what_was_entered(page: Page, site: Site, language: str) -> None:
    query = "?lang=en" if language == "en" else ""
    page.goto(site.at(f"/e/{site.slug}/register{query}"))
    name = page.locator("#field-name")
    # a browser stops typing at the field's limit ...
    name.fill(LONG_NAME)
    assert len(name.input_value()) == 200
    # ... the server checks anyway (a client without the limit)
    name.evaluate("el => el.removeAttribute('maxlength')")
    name.fill(LONG_NAME)
    page.locator("#field-email").fill("dmitri@@example")
    page.locator("#field-organisation").fill("Вместе e.V.")
    page.locator("#field-support_needs-sign_language").check()
    answer = submit(page)

    assert answer.status == 422
    assert html_lang(page) == language
    assert page.title().startswith(TEXTS[language]["error_title"])
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    # at the top: right after the heading, before the form
    assert page.evaluate(
        """() => {
          const s = document.querySelector('.error-summary');
          const h1 = document.querySelector('main h1'), form = document.querySelector('main form');
          return !!(h1.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING)
            && !!(s.compareDocumentPosition(form) & Node.DOCUMENT_POSITION_FOLLOWING);
        }"""
    )
    targets = summary.get_by_role("link").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert targets == ["#field-name", "#field-email", "#field-privacy_consent"]
    for field in ("name", "email", "privacy_consent"):
        control = page.locator(f"#field-{field}")
        assert f"error-{field}" in (control.get_attribute("aria-describedby") or "").split()
        expect(control).to_have_attribute("aria-invalid", "true")
        expect(page.locator(f"#error-{field}")).to_be_visible()
    expect(page.locator("#error-name")).to_contain_text("10000")
    expect(summary.get_by_role("heading")).to_have_text(TEXTS[language]["summary"])
    if language == "en":
        expect(page.locator("#error-email")).to_contain_text("not a valid email address")

    # each link of the summary takes the keyboard to its field
    for link, field in zip(summary.get_by_role("link").all(), ("name", "email", "privacy_consent"), strict=True):
        link.focus()
        page.keyboard.press("Enter")
        expect(page.locator(f"#field-{field}")).to_be_focused()
        expect(page.locator(f"#field-{field}")).to_be_in_viewport()
    # the consent's error sits above its box, and the box beside its label (not squeezed into the box's column)
    box = page.locator("#field-privacy_consent").bounding_box()
    label = page.locator("label[for=field-privacy_consent]").bounding_box()
    error = page.locator("#error-privacy_consent").bounding_box()
    assert box and label and error
    assert label["x"] > box["x"] + box["width"] and label["width"] > 300
    assert error["y"] + error["height"] <= label["y"] + 1

    expect(name).to_have_value(LONG_NAME)
    expect(page.locator("#field-email")).to_have_value("dmitri@@example")
    expect(page.locator("#field-organisation")).to_have_value("Вместе e.V.")
    expect(page.locator("#field-support_needs-sign_language")).to_be_checked()
    expect(page.locator("#field-privacy_consent")).not_to_be_checked()
    assert_accessible(page)


# what a control is called in the two lists below: its id, else its link target, else its tag and type
CONTROL_KEY = "el => el.id || el.getAttribute('href') || `${el.tagName.toLowerCase()}:${el.getAttribute('type') || ''}`"


@pytest.mark.parametrize("path", ["/e/{slug}", "/e/{slug}/register", "/e/{slug}/register?lang=en"])
def test_tab_reaches_every_control_in_order_with_a_visible_focus(page: Page, site: Site, path: str) -> None:
    page.goto(site.at(path.format(slug=site.slug)))
    order = tab_order(page)
    controls = page.evaluate(
        f"""() => [...document.querySelectorAll('a[href], input, select, textarea, button')]
            .filter(el => el.type !== 'hidden' && !el.disabled && el.getClientRects().length > 0)
            .map({CONTROL_KEY})"""
    )
    reached = [f["id"] or f["href"] or f"{f['tag']}:{f['type']}" for f in order]
    assert reached == controls
    assert reached[0] == "#main"  # the skip link comes first
    invisible = [f for f in order if not f["visible"]]
    assert not invisible, f"focus not visible on {invisible}"
    if "/register" in path:
        assert reached.index("field-name") < reached.index("field-privacy_consent") < reached.index("button:submit")


def test_skip_link_moves_focus_to_the_content(page: Page, site: Site) -> None:
    page.goto(site.at(f"/e/{site.slug}/register"))
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    expect(page.locator(".skip-link")).to_be_in_viewport()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    # the next stop is inside main, not the header's language link
    assert page.evaluate("document.querySelector('main').contains(document.activeElement)")


@pytest.mark.parametrize(("language", "locale"), [("de", "de-DE"), ("en", "en-GB")])
def test_every_page_passes_axe(new_page: Callable[..., Page], site: Site, language: str, locale: str) -> None:
    page = new_page(locale=locale)
    query = "?lang=en" if language == "en" else ""
    address = f"axe-{language}@example.org"

    page.goto(site.at(f"/e/{site.slug}{query}"))
    assert html_lang(page) == language
    assert_accessible(page)
    page.get_by_role("link", name=TEXTS[language]["register_now"]).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TEXTS[language]["heading"])
    assert_accessible(page)
    submit(page)
    expect(page.locator(".error-summary")).to_be_visible()
    assert_accessible(page)

    page.locator("#field-name").fill(NAME)
    page.locator("#field-email").fill(address)
    page.locator("#field-support_needs-step_free").check()
    page.locator("#field-privacy_consent").check()
    submit(page)
    expect(page).to_have_url(re.compile("/check-mail"))
    assert_accessible(page)

    page.goto(link_in(site.mail(address, 1), site, "confirm"))
    assert html_lang(page) == language
    assert_accessible(page)
    submit(page)
    expect(page).to_have_url(re.compile(r"/manage\?t=.+&new=1"))  # the thank-you page
    assert_accessible(page)

    page.goto(link_in(site.mail(address, 2), site, "manage"))
    assert html_lang(page) == language
    assert_accessible(page)
    page.locator(f"a[href^='/e/{site.slug}/cancel']").click()
    expect(page).to_have_url(re.compile("/cancel"))
    assert_accessible(page)

    page.goto(site.at(f"/admin{query}"))
    assert html_lang(page) == language
    assert_accessible(page)
    page.locator("#field-token").fill("not the token")
    assert submit(page).status == 401
    expect(page.locator(".error-summary")).to_be_focused()
    assert_accessible(page)
    page.locator("#field-token").fill(ADMIN_TOKEN)
    submit(page)
    expect(page).to_have_url(re.compile("/admin/events"))
    assert_accessible(page)
    page.get_by_role("link", name="Fachvernetzung 2027").click()
    expect(page.locator("main")).to_contain_text(NAME)
    assert_accessible(page)

    # back to the cancel step, and through it
    page.goto(link_in(site.mail(address, 2), site, "manage"))
    page.locator(f"a[href^='/e/{site.slug}/cancel']").click()
    submit(page)
    expect(page.locator(".status-cancelled")).to_be_visible()
    assert_accessible(page)

    page.goto(site.at(f"/e/no-such-event{query}"))
    assert html_lang(page) == language
    assert_accessible(page)

"""The five registration emails: every format and language, the right personal link in each, escaped answers."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date

from eventkit.core.render import RenderedEmail, Renderer
from eventkit.devtools.samples import sample_context
from eventkit.mail.compose import Recipient
from eventkit.model.formats import discover
from tests.conftest import TEMPLATES

FORMATS = sorted(discover(TEMPLATES))
LANGUAGES = ("de", "en")
BASE = "https://events.example.org"
EMAILS = (
    "registration-optin",
    "registration-confirmed",
    "registration-waitlisted",
    "registration-promoted",
    "registration-cancelled",
)
# what each subject starts with, in German and English
SUBJECT = {
    "registration-optin": ("Bitte bestätigen Sie Ihre Anmeldung: ", "Please confirm your registration: "),
    "registration-confirmed": ("Anmeldung bestätigt: ", "Registration confirmed: "),
    "registration-waitlisted": ("Warteliste: ", "Waiting list: "),
    "registration-promoted": ("Ein Platz ist frei – Sie sind angemeldet: ", "A place is free – you are registered: "),
    "registration-cancelled": ("Abmeldung bestätigt: ", "Cancellation confirmed: "),
}
# the one personal link each email carries (the opt-in goes to an unconfirmed address: no personal page)
PERSONAL_LINK = {
    "registration-optin": "confirm",
    "registration-confirmed": "manage",
    "registration-waitlisted": "manage",
    "registration-promoted": "manage",
    "registration-cancelled": None,
}
SHOWS_ANSWERS = {"registration-confirmed", "registration-promoted"}
# phrases that only one of the two languages uses
GERMAN = ("Hallo ", "Herzliche Grüße", "Sie erhalten diese E-Mail", " Sie ")
ENGLISH = ("Hello ", "Kind regards", "You are receiving this email", " you ")


def heading_in(heading: str, out: RenderedEmail) -> bool:
    return f"{heading}\n{'-' * len(heading)}" in out.text or f">{heading}</h2>" in out.html


def flat(text: str) -> str:
    """Plain text as one line: wrapped sentences become findable again."""
    return " ".join(text.split())


def context(format_name: str, language: str, **changes: Any) -> dict[str, Any]:
    ctx = sample_context(TEMPLATES, format_name, language, BASE)
    ctx.update(changes)
    return ctx


def render(format_name: str, name: str, language: str, ctx: dict[str, Any]) -> RenderedEmail:
    return Renderer(TEMPLATES).email(format_name, name, language, ctx)


def every_case() -> list[tuple[str, str, str]]:
    return [(f, lang, name) for f in FORMATS for lang in LANGUAGES for name in EMAILS]


class StrictHTML(HTMLParser):
    """Collects what a mail client would trip over: unclosed or crossed tags and links without a target."""

    VOID = {"meta", "br", "img", "hr", "input", "link", "col", "area", "base", "wbr", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.hrefs: list[str] = []
        self.h1 = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if not href:
                self.problems.append(f"<a> without href at {self.getpos()}")
            else:
                self.hrefs.append(href)
        if tag == "h1":
            self.h1 += 1
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:]} at {self.getpos()}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(html)
    parser.close()
    return parser


def test_the_checks_can_fail() -> None:
    # the parser must catch what it is there to catch, or the HTML tests below prove nothing
    bad = parse('<html><body><p>x<a name="n">y</a></body></html>')
    assert any("without href" in p for p in bad.problems)
    assert any("</body> closes ['p']" in p for p in bad.problems)
    assert bad.stack != []


@pytest.mark.parametrize("format_name", FORMATS)
def test_every_format_has_the_five_registration_emails(format_name: str) -> None:
    assert set(EMAILS) <= set(Renderer(TEMPLATES).email_names(format_name))


@pytest.mark.parametrize(("format_name", "language", "name"), every_case())
def test_subject_text_and_html_say_what_happened_in_the_readers_language(
    format_name: str, language: str, name: str
) -> None:
    ctx = context(format_name, language)
    out = render(format_name, name, language, ctx)
    title = ctx["event"].title
    german = language == "de"
    assert "\n" not in out.subject
    assert out.subject == SUBJECT[name][0 if german else 1] + title
    for wanted, unwanted in zip(GERMAN, ENGLISH, strict=True):
        if not german:
            wanted, unwanted = unwanted, wanted
        assert wanted in flat(out.text)
        # the sample event's own German title and funding line and the links may hold any word
        prose = re.sub(r"https?://\S+", "", flat(out.text).replace(title, "").replace(ctx["event"].funding, ""))
        assert unwanted not in prose
    html = parse(out.html)
    assert html.problems == [] and html.stack == []
    assert html.h1 == 1
    assert f'<html lang="{language}"' in out.html
    assert f"<title>{SUBJECT[name][0 if german else 1]}{title}</title>" in out.html
    for part in (out.text, "".join(html.text)):
        assert "Yasemin Şahin-Müller" in part
        assert title in part
        assert "Marktplatz 1, 38518 Gifhorn" in part
        assert "Beispielnetzwerk e.V." in part and "kontakt@example.org" in part
        assert "Demokratie leben!" in part  # the funding credit
    assert "mailto:kontakt@example.org" in html.hrefs


@pytest.mark.parametrize(("format_name", "language", "name"), every_case())
def test_each_email_carries_its_own_personal_link_and_no_other(format_name: str, language: str, name: str) -> None:
    ctx = context(format_name, language)
    out = render(format_name, name, language, ctx)
    hrefs = parse(out.html).hrefs
    for kind in ("manage", "confirm"):
        link = getattr(ctx["links"], kind)
        if PERSONAL_LINK[name] == kind:
            assert link in out.text and link in hrefs
        else:
            assert link not in out.text and link not in out.html
    # no email of this kind carries the invitation's registration token
    assert ctx["links"].register not in out.text and ctx["links"].register not in out.html
    if name == "registration-cancelled":
        assert ctx["links"].event in out.text and ctx["links"].event in hrefs


@pytest.mark.parametrize(("format_name", "language", "name"), every_case())
def test_only_the_confirmations_show_the_answers(format_name: str, language: str, name: str) -> None:
    ctx = context(format_name, language)
    summary = ctx["registration"].answers_summary
    label, value = summary[0]
    assert ("Gebärdensprachdolmetschen (DGS)" if language == "de" else "German Sign Language") in value
    out = render(format_name, name, language, ctx)
    heading = "Ihre Angaben" if language == "de" else "Your answers"
    if name in SHOWS_ANSWERS:
        for label, value in summary:
            assert label.split()[0] in out.text and value.split()[0] in out.text
        assert f"{heading}\n{'-' * len(heading)}" in out.text and f">{heading}</h2>" in out.html
        assert "Дмитрий Иванов" in out.text and "Дмитрий Иванов" in out.html
        assert out.text.count("\n") > render(format_name, name, language, {**ctx, "registration": _empty()}).text.count(
            "\n"
        )
    else:
        # the opt-in goes to an address nobody has confirmed yet: support needs are not for its eyes
        assert not heading_in(heading, out)
        assert value not in out.text and value not in out.html


def _empty() -> SimpleNamespace:
    return SimpleNamespace(status="registered", answers_summary=[], position=None, calendar_attached=True)


@pytest.mark.parametrize("name", sorted(SHOWS_ANSWERS))
@pytest.mark.parametrize("language", LANGUAGES)
def test_an_empty_summary_leaves_out_the_section(name: str, language: str) -> None:
    out = render("fachvernetzung", name, language, context("fachvernetzung", language, registration=_empty()))
    assert not heading_in("Ihre Angaben" if language == "de" else "Your answers", out)
    assert "None" not in out.text and "None" not in out.html


@pytest.mark.parametrize("name", sorted(SHOWS_ANSWERS))
@pytest.mark.parametrize("format_name", FORMATS)
def test_answers_are_escaped_in_html_and_kept_as_typed_in_text(format_name: str, name: str) -> None:
    evil_label = 'Notiz <b>fett</b> & "Zitat"'
    evil_value = '<script>alert("x")</script> & <img src=x onerror=alert(1)>\nzweite Zeile'
    answers = [
        (evil_label, evil_value),
        ("Begleitperson", "Дмитрий Иванов"),
        ("Name in der Teilnahmeliste", "محمد الأحمد"),
        ("Organisation", "Müller & Söhne – „Verein für Begegnung“"),
    ]
    person = Recipient("محمد الأحمد", "m@example.org", None, "de")
    ctx = context(
        format_name,
        "de",
        recipient=person,
        registration=SimpleNamespace(
            status="registered", answers_summary=answers, position=None, calendar_attached=True
        ),
    )
    out = render(format_name, name, "de", ctx)
    assert "<script>" not in out.html and "<img src=x" not in out.html and "<b>fett</b>" not in out.html
    assert "&lt;script&gt;" in out.html and "&lt;b&gt;fett&lt;/b&gt;" in out.html
    assert "zweite Zeile" in out.html.split("&lt;img", 1)[1].split("</p>", 1)[0]  # same answer, kept together
    assert "Müller &amp; Söhne – „Verein für Begegnung“" in out.html
    html = parse(out.html)
    assert html.problems == [] and html.stack == []
    shown = "".join(html.text)
    assert evil_value.split("\n")[0] in shown and evil_label in shown  # the reader sees what was typed
    for name_in_any_script in ("محمد الأحمد", "Дмитрий Иванов"):
        assert name_in_any_script in out.text and name_in_any_script in out.html
    assert "Hallo محمد الأحمد," in out.text
    assert evil_label in out.text and '<script>alert("x")</script>' in out.text
    assert "Müller & Söhne – „Verein für Begegnung“" in out.text


@pytest.mark.parametrize(("format_name", "language", "name"), every_case())
def test_what_may_be_missing_is_allowed_to_be_missing(format_name: str, language: str, name: str) -> None:
    # StrictUndefined raises on a missing key; None must be fine wherever the context allows it
    ctx = context(format_name, language, optin_expires=None, registration=_empty())
    ctx["links"] = SimpleNamespace(
        event=f"{BASE}/e/x",
        manage=None,
        confirm=ctx["links"].confirm if name == "registration-optin" else None,
        ics=None,
    )
    ctx["event"] = dataclasses.replace(
        ctx["event"],
        venue=None,
        online_url="https://meet.example.org/netzwerk",
        capacity=None,
        registration_deadline=None,
        funding=None,
        description=None,
        agenda=(),
    )
    out = render(format_name, name, language, ctx)
    assert "None" not in out.text and "None" not in out.html
    assert "https://meet.example.org/netzwerk" in out.text and "https://meet.example.org/netzwerk" in out.html
    assert "Marktplatz" not in out.text
    html = parse(out.html)
    assert html.problems == [] and html.stack == []
    if PERSONAL_LINK[name] == "manage":
        # without a personal page, the reader is told to reply instead
        reply = "antworten sie einfach auf diese e-mail" if language == "de" else "just reply to this email"
        assert flat(out.text).lower().count(reply) == 2  # that sentence, and the general one about questions
    if name == "registration-waitlisted":
        assert ("Platz 3" if language == "de" else "number 3") not in out.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_optin_says_when_the_request_expires(language: str) -> None:
    expires = datetime(2027, 3, 9, 18, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    out = render("barcamp", "registration-optin", language, context("barcamp", language, optin_expires=expires))
    day = format_date(expires, format="full", locale="de_DE" if language == "de" else "en_GB")
    time = "18:30 Uhr" if language == "de" else "18:30"
    assert f"{day}, {time}" in flat(out.text) and f"{day}, {time}" in out.html
    ignore = "ignorieren Sie diese E-Mail einfach" if language == "de" else "simply ignore this email"
    assert ignore in flat(out.text)
    none = render("barcamp", "registration-optin", language, context("barcamp", language, optin_expires=None))
    assert day not in none.text and ignore in flat(none.text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_waiting_list_email_gives_the_position(language: str) -> None:
    registration = SimpleNamespace(status="waitlisted", answers_summary=[], position=7, calendar_attached=False)
    ctx = context("netzwerktreffen", language, registration=registration)
    out = render("netzwerktreffen", "registration-waitlisted", language, ctx)
    line = "Sie stehen auf Platz 7 der Warteliste." if language == "de" else "You are number 7 on the waiting list."
    assert line in out.text and line in out.html


@pytest.mark.parametrize("language", LANGUAGES)
def test_calendar_is_announced_only_where_one_is_attached(language: str) -> None:
    attached = "angehängt" if language == "de" else "attached"
    for name in EMAILS:
        out = render("fachvernetzung", name, language, context("fachvernetzung", language))
        if name in ("registration-confirmed", "registration-promoted", "registration-cancelled"):
            assert attached in out.text or "angehängte" in out.text, name
        else:
            assert attached not in out.text and "angehängte" not in out.text, name


def test_multi_day_events_in_another_time_zone_show_both_ends_and_the_zone() -> None:
    ctx = context("netzwerktreffen", "en")
    event = ctx["event"]
    ctx["event"] = dataclasses.replace(event, end=event.start + timedelta(days=1, hours=6), timezone="Europe/Istanbul")
    out = render("netzwerktreffen", "registration-confirmed", "en", ctx)
    for day in ctx["event"].days:
        assert format_date(day, format="full", locale="en_GB") in flat(out.text)
        assert format_date(day, format="full", locale="en_GB") in out.html
    assert "All times are in the time zone Europe/Istanbul." in flat(out.text)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("format_name", FORMATS)
def test_shared_parts_never_carry_one_persons_data_to_another(format_name: str, language: str) -> None:
    renderer = Renderer(TEMPLATES)
    people = [
        Recipient("Дмитрий Иванов", "dmitri@example.org", "Abli e.V.", language),
        Recipient("محمد الأحمد", "m@example.org", None, language),
        Recipient("Ayşe Yılmaz", "ayse@example.org", "Ararat-Kultur-Greiz e.V.", language),
    ]
    shared: dict[str, object] = {}  # one cache for the event across all five emails, as a batch might use it
    for name in EMAILS:
        for n, person in enumerate(people):
            ctx = context(format_name, language, recipient=person)
            ctx["links"] = SimpleNamespace(
                event=f"{BASE}/e/x",
                manage=f"{BASE}/e/x/registration?t=manage-{n}",
                confirm=f"{BASE}/e/x/confirm?t=confirm-{n}" if name == "registration-optin" else None,
                ics=f"{BASE}/e/x/calendar.ics",
            )
            ctx["registration"] = SimpleNamespace(
                status="registered",
                answers_summary=[("Begleitperson", f"Person {n}")],
                position=n + 1,
                calendar_attached=True,
            )
            cached = renderer.email(format_name, name, language, ctx, shared=shared)
            assert cached == renderer.email(format_name, name, language, ctx)
            assert person.name in cached.text
    assert shared

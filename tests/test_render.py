"""Every email of every format renders in German and English, escapes what people typed, handles optional parts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from eventkit.core.render import Renderer
from eventkit.devtools.samples import sample_context
from eventkit.model.formats import discover
from tests.conftest import TEMPLATES

FORMATS = sorted(discover(TEMPLATES))
BASE = "https://events.example.org"


def render(format_name: str, language: str, name: str = "invitation", **changes: object):  # type: ignore[no-untyped-def]
    ctx = sample_context(TEMPLATES, format_name, language, BASE)
    if changes:
        ctx["event"] = dataclasses.replace(ctx["event"], **changes)
    return Renderer(TEMPLATES).email(format_name, name, language, ctx), ctx


def test_the_three_formats_are_discovered_from_disk() -> None:
    assert {"fachvernetzung", "netzwerktreffen", "barcamp"} <= set(FORMATS)


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("format_name", FORMATS)
def test_every_email_renders_with_everything_a_reader_needs(format_name: str, language: str) -> None:
    renderer = Renderer(TEMPLATES)
    names = renderer.email_names(format_name)
    assert "invitation" in names
    for name in names:
        out, ctx = render(format_name, language, name)
        assert out.subject and "\n" not in out.subject
        assert ctx["event"].title in out.subject or ctx["event"].title in out.text
        assert "Yasemin Şahin-Müller" in out.text and "Yasemin Şahin-Müller" in out.html
        assert f'lang="{language}"' in out.html
        if name == "invitation":
            assert ctx["links"].register in out.text and ctx["links"].register in out.html
        assert "Marktplatz 1, 38518 Gifhorn" in out.text
        assert "Beispielnetzwerk e.V." in out.text


@pytest.mark.parametrize("format_name", FORMATS)
def test_german_and_english_are_really_different_languages(format_name: str) -> None:
    de, _ = render(format_name, "de")
    en, _ = render(format_name, "en")
    assert de.subject.startswith("Einladung")
    assert en.subject.startswith("Invitation")
    assert "Anmeld" in de.text and "regist" in en.text.lower()
    assert "Anmeld" not in en.text


@pytest.mark.parametrize("format_name", FORMATS)
def test_what_people_typed_is_escaped_in_html(format_name: str) -> None:
    evil = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    out, _ = render(format_name, "de", title=evil)
    assert "<script>" not in out.html and "<img src=x" not in out.html
    assert "&lt;script&gt;" in out.html
    assert evil in out.text  # plain text shows it as typed


@pytest.mark.parametrize("format_name", FORMATS)
def test_optional_parts_may_be_missing(format_name: str) -> None:
    out, _ = render(
        format_name,
        "en",
        venue=None,
        online_url="https://meet.example.org/netzwerk",
        capacity=None,
        registration_deadline=None,
        funding=None,
        description=None,
        agenda=(),
    )
    assert "https://meet.example.org/netzwerk" in out.text
    assert "Marktplatz" not in out.text


def test_two_day_event_shows_both_days() -> None:
    ctx = sample_context(TEMPLATES, "netzwerktreffen", "de", BASE)
    event = ctx["event"]
    two_days = dataclasses.replace(event, end=event.start + timedelta(days=1, hours=6))
    ctx["event"] = two_days
    out = Renderer(TEMPLATES).email("netzwerktreffen", "invitation", "de", ctx)
    from babel.dates import format_date

    for day in two_days.days:
        assert format_date(day, format="full", locale="de_DE") in out.text


def test_formats_override_only_what_differs() -> None:
    barcamp, _ = render("barcamp", "de")
    netz, ctx = render("netzwerktreffen", "de")
    fach, _ = render("fachvernetzung", "de")
    assert "Session" in barcamp.text and "Session" not in fach.text
    for group in ctx["event"].extra["working_groups"]:
        assert group in netz.text


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize("format_name", FORMATS)
def test_shared_parts_never_carry_one_recipients_data_to_another(format_name: str, language: str) -> None:
    # {% shared %} parts are rendered once per event and language; what they show must not depend on
    # the person, or the second person would see the first one's name or link
    from types import SimpleNamespace

    from eventkit.mail.compose import Recipient

    renderer = Renderer(TEMPLATES)
    people = [
        Recipient("Дмитрий Иванов", "dmitri@example.org", "Abli e.V.", language),
        Recipient("محمد الأحمد", "m@example.org", None, language),
        Recipient("Ayşe Yılmaz", "ayse@example.org", "Ararat-Kultur-Greiz e.V.", language),
    ]
    for name in renderer.email_names(format_name):
        shared: dict[str, object] = {}
        for n, person in enumerate(people):
            ctx = sample_context(TEMPLATES, format_name, language, BASE)
            ctx["recipient"] = person
            ctx["links"] = SimpleNamespace(
                register=f"{BASE}/e/x/register?t=token-{n}",
                event=f"{BASE}/e/x",
                manage=f"{BASE}/e/x/manage?t=manage-{n}",
                confirm=f"{BASE}/e/x/confirm?t=confirm-{n}",
                ics=f"{BASE}/e/x/event.ics",
            )
            cached = renderer.email(format_name, name, language, ctx, shared=shared)
            fresh = renderer.email(format_name, name, language, ctx)
            assert cached == fresh
        assert shared, "the invitation marks its per-event parts as shared"


def test_a_new_format_is_one_new_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from eventkit.model.spec import parse_spec

    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    folder = templates / "formats" / "beiratssitzung"
    folder.mkdir()
    (folder / "format.yaml").write_text(
        "title: {de: Beiratssitzung, en: Advisory board meeting}\n"
        "description: {de: Sitzung des Beirates des Bündnisses., en: Meeting of the alliance's advisory board.}\n"
        "duration: 2h\n",
        encoding="utf-8",
    )
    assert "beiratssitzung" in discover(templates)
    spec = parse_spec(
        "title: Beiratssitzung März\nformat: beiratssitzung\nstart: 2027-03-10T18:00\n"
        "venue: {name: Koordinierungsbüro, address: 'Hauptstraße 1, 08056 Zwickau'}\n"
        "organiser: {name: Bündnis für Demokratie und Toleranz, email: buero@example.org}\n",
        templates,
    )
    assert spec.end - spec.start == timedelta(hours=2)
    ctx = sample_context(templates, "beiratssitzung", "de", BASE)
    out = Renderer(templates).email("beiratssitzung", "invitation", "de", ctx)
    assert "Beiratssitzung" in out.text and "Sitzung des Beirates" in out.text  # _base templates serve it

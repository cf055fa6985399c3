"""A fourth format is one folder: its format.yaml declares its own spec keys and recap sections, and the
event spec and the recap input of an event of it are checked by the same models as the others'."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eventkit import runtime
from eventkit.core.validation import ValidationFailed
from eventkit.events.events import save_event
from eventkit.model.formats import discover
from eventkit.model.recap import recap_model
from eventkit.model.spec import parse_spec
from eventkit.recap.document import recap_html
from eventkit.recap.intake import parse_recap
from tests.conftest import TEMPLATES, make_settings

FORMAT_YAML = """\
title: {de: Stammtisch, en: Regulars' table}
duration: 2h
agenda:
  - {at: 0m, title: {de: Ankommen, en: Arrival}}
  - {at: 30m, title: {de: Thema des Abends, en: The evening's topic}}
spec_fields:
  topic: the evening's topic
recap:
  highlights: {kind: list, description: What stood out, title: {de: Was hängen blieb, en: What stood out}}
  guests: {kind: organisations, description: Organisations that came as guests, title: Gäste}
  mood: text
  next_date: date
"""

SPEC = """\
title: Stammtisch der Initiativen
format: stammtisch
start: 2027-05-12T19:00
venue: {name: Café am Markt, address: "Markt 2, 38518 Gifhorn"}
organiser: {name: Netzwerk Gifhorn, email: info@example.org}
topic: Ehrenamt gewinnen
"""

RECAP = """\
summary: Ein lebhafter Abend.
highlights: [Neue Gesichter, Ideen für den Sommer]
guests:
  - Tafel Gifhorn e.V.
  - {name: Kulturverein, town: Wittingen}
next_date: 2027-06-09
"""


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "_base", root / "_base")
    (root / "formats" / "stammtisch").mkdir(parents=True)
    (root / "formats" / "stammtisch" / "format.yaml").write_text(FORMAT_YAML, encoding="utf-8")
    shutil.copytree(TEMPLATES / "formats" / "barcamp", root / "formats" / "barcamp")
    return root


def test_a_spec_of_the_new_format(templates: Path) -> None:
    spec = parse_spec(SPEC, templates)
    assert spec.format == "stammtisch" and spec.slug == "stammtisch-2027-gifhorn"
    assert (spec.end - spec.start).total_seconds() == 2 * 3600
    assert [item.title for item in spec.agenda] == ["Ankommen", "Thema des Abends"]
    assert spec.extra == {"topic": "Ehrenamt gewinnen"}
    with pytest.raises(ValidationFailed) as info:
        parse_spec(SPEC + "rounds: 2\n", templates, source="stammtisch.yaml")
    assert info.value.render("en") == "stammtisch.yaml:7: rounds: unknown key for the format stammtisch"


def test_a_recap_of_the_new_format_has_its_own_sections(templates: Path) -> None:
    fmt = discover(templates)["stammtisch"]
    recap = parse_recap(RECAP, fmt, source="recap.yaml")
    assert recap.section("highlights") == ("Neue Gesichter", "Ideen für den Sommer")
    guests = [(g.name, g.town) for g in recap.section("guests")]
    assert guests == [("Tafel Gifhorn e.V.", ""), ("Kulturverein", "Wittingen")]
    assert recap.section("next_date") == "2027-06-09" and recap.section("mood") == ""
    assert recap.to_data()["guests"][1] == {"name": "Kulturverein", "town": "Wittingen", "note": ""}
    schema = recap_model(fmt).model_json_schema()
    assert {"summary", "agenda", "highlights", "guests", "mood", "next_date"} <= set(schema["properties"])
    assert schema["properties"]["highlights"]["description"] == "What stood out"


def test_a_section_of_another_format_is_named_as_such(templates: Path) -> None:
    fmt = discover(templates)["stammtisch"]
    with pytest.raises(ValidationFailed) as info:
        parse_recap(RECAP + "sessions: []\nhighlight: [x]\nguests: [{name: A, ort: B}]\n", fmt, source="recap.yaml")
    assert info.value.render("en").splitlines() == [
        "recap.yaml:7: sessions: is not part of a recap of the format stammtisch",
        "recap.yaml:8: highlight: unknown key; did you mean 'highlights'?",
        "recap.yaml:9: guests[0].ort: unknown key (known: name, town, note)",
    ]


def test_the_recap_shows_the_new_formats_sections_with_their_titles(
    templates: Path, tmp_path: Path, database_url: str
) -> None:
    rt = runtime.configure(make_settings(tmp_path, database_url, EVENTKIT_TEMPLATE_DIR=str(templates)))
    try:
        slug = save_event(rt.store, rt.settings, parse_spec(SPEC, templates)).slug
        given = parse_recap(RECAP, discover(templates)["stammtisch"], slug=slug)
        html, *_ = recap_html(rt, slug, given, language="de", toc=True)
    finally:
        rt.store.dispose()
    highlights = html.split('<h2 id="s-highlights">Was hängen blieb</h2>')[1].split("</section>")[0]
    assert "<li><p>Neue Gesichter</p>" in highlights and "<li><p>Ideen für den Sommer</p>" in highlights
    assert '<h2 id="s-guests">Gäste</h2>' in html and "Kulturverein</strong> (Wittingen)" in html
    assert '<a href="#s-highlights">Was hängen blieb</a>' in html
    assert 'id="s-mood"' not in html  # an empty section is left out

"""The recap: input checked with clear errors, figures and consent from the store, the PDF per format, the thanks."""

from __future__ import annotations

import email
import email.policy
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from eventkit import runtime
from eventkit.core.files import event_dir
from eventkit.core.settings import Settings
from eventkit.core.tokens import new_nonce
from eventkit.core.validation import ValidationFailed
from eventkit.db.store import Checkin, OutboxMessage, Person, Registration
from eventkit.documents.pdf import SafeFetcher
from eventkit.events.events import find_event, save_event
from eventkit.model.formats import discover
from eventkit.model.recap import Recap, Session, recap_model
from eventkit.model.spec import EventSpec, load_spec, parse_spec
from eventkit.recap import document, intake, thanks
from tests.conftest import EXAMPLES, TEMPLATES
from tests.test_pdf import Hits, http_server, pdf_text  # noqa: F401 - the fixture is used here too

EXAMPLE = {
    "fachvernetzung": "fachvernetzung-gifhorn",
    "netzwerktreffen": "netzwerktreffen-gera",
    "barcamp": "barcamp-hannover",
}

# name, email, organisation, list_organisation, photo_consent, checked in
PEOPLE = [
    ("Renate Müller", "renate@example.org", "Omas gegen Rechts Gifhorn", True, True, True),
    ("محمد الأحمد", "m.alahmad@example.org", "Sport verbindet e.V.", True, True, True),
    ("Дмитрий Иванов", "dmitri@example.org", "Verein ohne Nennung e.V.", False, False, True),
    ("Olena Kovalenko", "olena@example.org", "Nicht gekommen e.V.", True, True, False),
]


@pytest.fixture
def rt(settings: Settings) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(settings)
    yield configured
    configured.store.dispose()


def add_event(rt: runtime.Runtime, fmt: str, text: str | None = None) -> str:
    spec = parse_spec(text, TEMPLATES) if text else load_spec(EXAMPLES / f"{EXAMPLE[fmt]}.yaml", TEMPLATES)
    return save_event(rt.store, rt.settings, spec).slug


def add_people(rt: runtime.Runtime, slug: str, people: list[tuple[Any, ...]] = PEOPLE, **answers: Any) -> None:
    """Registrations with places, as the registration and check-in would leave them."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        first_day = EventSpec.from_data(event.spec).days[0]
        for name, address, org, listed, photos, came in people:
            person = session.scalar(select(Person).where(Person.email == address))
            if person is None:
                person = Person(email=address, name=name, organisation=org, language="de")
                session.add(person)
                session.flush()
            at = datetime(2027, 11, 20, 11, 5, tzinfo=UTC)
            registration = Registration(
                event_id=event.id,
                person_id=person.id,
                status="registered",
                answers={"list_organisation": listed, "photo_consent": photos, **answers},
                token_nonce=new_nonce(),
                checked_in_at=at if came else None,
            )
            session.add(registration)
            if came:  # checked in on the event's (first) day
                session.flush()
                session.add(Checkin(registration_id=registration.id, day=first_day, at=at))


def recap_text(rt: runtime.Runtime, slug: str, tmp_path: Path) -> str:
    result = document.render_recap(rt, slug)
    return pdf_text(result.path.read_bytes(), tmp_path)


FORMATS = discover(TEMPLATES)


def problems(text: str, fmt: str = "barcamp", language: str = "en") -> str:
    with pytest.raises(ValidationFailed) as info:
        intake.parse_recap(text, FORMATS[fmt], source="recap.yaml", slug="barcamp-2027-hannover")
    return info.value.render(language)


# --------------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("fmt", sorted(EXAMPLE))
def test_examples_are_valid(fmt: str) -> None:
    path = EXAMPLES / "recaps" / f"{EXAMPLE[fmt]}.yaml"
    data = intake.load_recap(path, FORMATS[fmt])
    assert data.summary and data.outcomes


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_every_example_event_has_its_recap_input(example: str) -> None:
    spec = load_spec(EXAMPLES / example, TEMPLATES)
    data = intake.load_recap(EXAMPLES / "recaps" / example, FORMATS[spec.format], slug=spec.slug)
    assert data.summary and data.outcomes


def test_errors_name_the_field_and_the_line() -> None:
    text = """\
summray: Tippfehler
sessions:
  - {round: 1, table: 1, title: Mitglieder}
  - {round: 1, table: 1, title: Doppelt}
  - {round: 0, table: 2, title: Null}
demands: [nur beim Netzwerktreffen]
photos:
  - {file: ../../etc/passwd, usable: yes-please}
  - {file: /etc/passwd}
  - {file: "http://169.254.169.254/x.png"}
"""
    out = problems(text)
    assert "recap.yaml:1: summray: unknown key; did you mean 'summary'?" in out
    assert "recap.yaml:4: sessions[1]: round 1, table 1 is taken by sessions[0] already" in out
    assert "sessions[2].round: must be a whole number of at least 1" in out
    assert "demands: is not part of a recap of the format barcamp" in out
    assert "photos[0].file: '../../etc/passwd' is not a file name inside the recap's folder" in out
    assert "photos[0].usable: must be true or false" in out
    assert "photos[1].file:" in out and "photos[2].file:" in out
    german = problems(text, language="de")
    assert "summray: unbekannter Schlüssel" in german
    assert "ist schon mit sessions[0] belegt" in german


def test_a_recap_for_another_event_or_not_yaml_is_refused() -> None:
    assert "event: this recap is for 'other-event'" in problems("event: other-event\n")
    assert "not valid YAML" in problems("summary: [unclosed\n")
    assert "the recap must be a mapping" in problems("- a list\n")


def test_a_missing_photo_is_reported_and_nothing_is_kept(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "barcamp")
    source = tmp_path / "input"
    source.mkdir()
    (source / "recap.yaml").write_text("summary: Hallo\nphotos: [{file: photos/weg.jpg, usable: true}]\n")
    (source / "photos").mkdir()
    with pytest.raises(ValidationFailed) as info:
        intake.take_input(rt, slug, source / "recap.yaml")
    assert "photos[0].file: file photos/weg.jpg not found next to the recap" in info.value.render("en")
    assert intake.stored_recap(rt, slug) is None
    (source / "photos" / "weg.jpg").write_text("not an image")
    with pytest.raises(ValidationFailed) as info:
        intake.take_input(rt, slug, source / "recap.yaml")
    assert "is not an image eventkit can read" in info.value.render("en")
    assert not event_dir(rt.settings, slug).joinpath(intake.RECAP_FILE).exists()


# --------------------------------------------------------------------------------------------- content


@pytest.mark.parametrize("fmt", sorted(EXAMPLE))
def test_recap_per_format(rt: runtime.Runtime, tmp_path: Path, fmt: str) -> None:
    slug = add_event(rt, fmt)
    add_people(rt, slug, PEOPLE[:2], town="Gifhorn")
    add_people(rt, slug, PEOPLE[2:], town="Wolfsburg")
    intake.take_input(rt, slug, EXAMPLES / "recaps" / f"{EXAMPLE[fmt]}.yaml")
    result = document.render_recap(rt, slug)
    assert result.path == event_dir(rt.settings, slug) / f"recap-{slug}.pdf"
    text = pdf_text(result.path.read_bytes(), tmp_path)
    # every format: cover, programme, figures, the organisations named with consent, the credit line
    assert "Dokumentation" in text and "Ablauf der Veranstaltung" in text and "Teilnahme in Zahlen" in text
    assert "Beteiligte Organisationen" in text and "Seite 2 von" in text
    assert "Omas gegen Rechts Gifhorn" in text and "Sport verbindet e.V." in text
    assert "Verein ohne Nennung" not in text  # attended, but did not agree to be named
    assert "Nicht gekommen" not in text  # agreed, but did not come
    assert (result.figures.registered, result.figures.attended, result.figures.organisations) == (4, 3, 3)
    # the towns of those who came (the registration asks for it, optionally): Gifhorn and Wolfsburg
    assert result.figures.towns == 2 and "nicht nach dem Wohnort gefragt" not in text
    if fmt == "fachvernetzung":
        assert "Vorstellungsrunde: Initiativen, Vereine und Bündnisse" in text
        assert "Bündnis „Wittingen ist bunt“ (Wittingen)" in text
        assert "Rückblick" in text and "Beschlüsse und Verabredungen" in text and "Demokratiekonzept" in text
        assert "Nächster Termin" in text and "Frühjahr 2028" in text
        assert "Gefördert im Rahmen des Bundesprogramms „Demokratie leben!“".lower() in text.lower()
    elif fmt == "netzwerktreffen":
        assert "Organisationen stellen sich vor" in text and "RomnoKher Thüringen e.V. (Eisenberg)" in text
        assert "Arbeitsgruppen und ihre Ergebnisse" in text and "Beschwerdestellen" in text
        assert "Forderungen" in text and "strukturelle Maßnahmen gegen institutionellen" in text
        assert "Sessionplan" not in text
    else:
        # its sessions were planned on the session board (none here): the example input has no grid of its own
        assert "Tisch Runde 1" not in text and "Gastgeber*in" not in text
        assert "Gesammelte Ideen" in text and "„Reinschnuppern“" in text
        assert "gefördert vom Amt für regionale" in text
    assert not result.toc and result.refused_urls == []


def test_a_barcamp_recap_shows_the_sessions_planned_on_the_board(rt: runtime.Runtime, tmp_path: Path) -> None:
    """One story: the grid and the notes of the recap are the session plan published on the board and what the
    hosts wrote, whatever grid the recap input has (the demo's session-plan PDF and recap agree)."""
    from eventkit.registration import rules
    from eventkit.sessions.board import set_interest
    from eventkit.sessions.notes import notes_link, save_notes
    from eventkit.sessions.planning import plan
    from eventkit.sessions.proposals import propose
    from eventkit.sessions.publish import publish

    slug = add_event(rt, "barcamp")
    add_people(rt, slug)
    with rt.store.session() as session:
        tokens = [rules.manage_token(rt, r) for r in session.scalars(select(Registration))]
    board = propose(rt, slug, tokens[0], "Partnerschaften verjüngen", "Junge Menschen gewinnen")
    propose(rt, slug, tokens[1], "Fördertöpfe für Begegnungen", "EU- und Landesprogramme")
    for token in tokens:
        set_interest(rt, slug, token, str(board), True)
    plan(rt, slug)
    publish(rt, slug)
    notes = notes_link(rt, slug, board).split("?t=", 1)[1]
    save_notes(rt, slug, board, notes, "Ein Jugendteam mit eigenem Budget.")
    intake.take_input(rt, slug, EXAMPLES / "recaps" / "barcamp-hannover.yaml")
    text = recap_text(rt, slug, tmp_path)
    assert "Tisch Runde 1" in text and "Partnerschaften verjüngen" in text and "Fördertöpfe für Begegnungen" in text
    assert "Gastgeber*in: Renate Müller" in text and "Ein Jugendteam mit eigenem Budget." in text
    # an input that names sessions of its own does not replace what the board planned
    own = intake.load_recap(EXAMPLES / "recaps" / "barcamp-hannover.yaml", FORMATS["barcamp"]).changed(
        sessions=(Session(round=1, table=1, title="Mitgliedergewinnung", host="Gisela Brandt", notes="Andere Notizen"),)
    )
    intake.store_recap(rt, slug, own)
    text = recap_text(rt, slug, tmp_path)
    assert "Partnerschaften verjüngen" in text and "Ein Jugendteam mit eigenem Budget." in text
    assert "Mitgliedergewinnung" not in text and "Gisela Brandt" not in text and "Andere Notizen" not in text


def test_a_barcamp_without_the_board_has_the_grid_of_its_recap_input(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "barcamp")
    add_people(rt, slug)
    grid = (
        Session(round=1, table=1, title="Mitgliedergewinnung", host="Gisela Brandt"),
        Session(
            round=2,
            table=3,
            title="Fördermöglichkeiten",
            host="Transformationsstelle der VDFG",
            notes="Links auf der Website.",
        ),
    )
    intake.store_recap(rt, slug, recap_model(FORMATS["barcamp"])(summary="Kurz.", sessions=grid))
    text = recap_text(rt, slug, tmp_path)
    assert "Tisch Runde 1 Runde 2" in text
    assert "Mitgliedergewinnung" in text and "Gastgeber*in: Gisela Brandt" in text
    assert "Notizen von den Tischen" in text and "Links auf der Website." in text


def test_the_two_day_meeting_gets_a_recap_with_its_days(rt: runtime.Runtime, tmp_path: Path) -> None:
    from eventkit.door import checkins
    from eventkit.recap.attendance import render_attendance

    slug = add_event(rt, "netzwerktreffen", (EXAMPLES / "vernetzung-nuernberg.yaml").read_text(encoding="utf-8"))
    add_people(rt, slug, [(n, e, o, listed, photos, False) for n, e, o, listed, photos, _ in PEOPLE])
    with rt.store.session() as session:
        ids = dict(session.execute(select(Person.email, Registration.id).join(Registration)).tuples().all())
    thursday, friday = date(2027, 11, 4), date(2027, 11, 5)
    for address, day in (
        ("renate@example.org", thursday),
        ("renate@example.org", friday),
        ("m.alahmad@example.org", thursday),
        ("dmitri@example.org", thursday),
        ("dmitri@example.org", friday),
    ):
        assert checkins.check_in(rt, slug, ids[address], True, day, now=datetime.combine(day, datetime.min.time(), UTC))
    intake.take_input(rt, slug, EXAMPLES / "recaps" / "vernetzung-nuernberg.yaml")
    result = document.render_recap(rt, slug)
    assert [n for _, n in result.figures.per_day] == [3, 2]
    text = pdf_text(result.path.read_bytes(), tmp_path)
    assert "4. November 2027 – Freitag, 5. November 2027" in text
    assert "Teilnahme pro Tag: Donnerstag, 4. November 2027: 3 · Freitag, 5. November 2027: 2" in text
    assert "Tag 1, 11:30 Impuls aus der Wissenschaft" in text and "Tag 2, 09:00 Workshops, Runde 2" in text
    assert "Art Mobil Marburg e.V. (Marburg)" in text and "Wirkung sichtbar machen" in text
    assert "Teilnehmenden, Referent*innen, Dolmetscher*innen und" in text  # gender stars, not emphasis
    assert "Vor Ort. Vernetzt. Verbunden.“ des Bundesamts für Migration und Flüchtlinge" in " ".join(text.split())
    # the attendance list from the same check-ins: a sheet for each day
    listed = render_attendance(rt, slug)
    assert (listed.sheets, listed.names) == (2, 3)


def test_recap_in_english_on_request(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "barcamp")
    add_people(rt, slug)
    given = intake.load_recap(EXAMPLES / "recaps" / "barcamp-hannover.yaml", FORMATS["barcamp"])
    intake.store_recap(rt, slug, given.changed(sessions=(Session(round=1, table=1, title="Mitgliedergewinnung"),)))
    result = document.render_recap(rt, slug, language="en")
    text = pdf_text(result.path.read_bytes(), tmp_path)
    assert "Session grid" in text and "Participation in figures" in text and "Page 2 of" in text


def test_names_in_any_script_come_out_intact(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "fachvernetzung")
    people = [
        ("محمد الأحمد", "m@example.org", "جمعية الجسر", True, True, True),
        ("Дмитрий Иванов", "d@example.org", "Союз «Мост»", True, True, True),
        ("Zoë Çelik", "z@example.org", "Verein für Ünterschiede e.V.", True, True, True),
    ]
    add_people(rt, slug, people)
    intake.store_recap(rt, slug, Recap(summary="Kurz."))
    text = recap_text(rt, slug, tmp_path)
    assert "جمعية الجسر" in text and "Союз «Мост»" in text and "Verein für Ünterschiede e.V." in text


def _photo(path: Path, colour: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (640, 420), colour).save(path, "JPEG")


def _images(pdf: Path) -> int:
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    return len(out.splitlines()) - 2


def test_photos_only_when_usable_and_everybody_on_them_consented(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "netzwerktreffen")
    add_people(rt, slug)
    source = tmp_path / "input"
    for name, colour in (("plenum", "steelblue"), ("ag", "olive"), ("privat", "maroon"), ("fremd", "teal")):
        _photo(source / "photos" / f"{name}.jpg", colour)
    _photo(source / "photos" / "flipchart.jpg", "white")
    (source / "recap.yaml").write_text(
        yaml.safe_dump(
            {
                "summary": "Fotos",
                "photos": [
                    {
                        "file": "photos/plenum.jpg",
                        "caption": "Plenum mit Einverständnis",
                        "usable": True,
                        "people": ["renate@example.org", "M.Alahmad@example.org"],
                    },
                    {
                        "file": "photos/ag.jpg",
                        "caption": "AG ohne Einverständnis",
                        "usable": True,
                        "people": ["renate@example.org", "dmitri@example.org"],
                    },
                    {"file": "photos/privat.jpg", "caption": "Nicht freigegeben", "usable": False},
                    {
                        "file": "photos/fremd.jpg",
                        "caption": "Unbekannte Person",
                        "usable": True,
                        "people": ["nobody@example.org"],
                    },
                    {"file": "photos/flipchart.jpg", "caption": "Flipchart der AG", "usable": True},
                ],
            },
            allow_unicode=True,
        )
    )
    intake.take_input(rt, slug, source / "recap.yaml")
    result = document.render_recap(rt, slug)
    text = pdf_text(result.path.read_bytes(), tmp_path)
    assert result.photos_used == 2 and _images(result.path) == 2
    assert "Plenum mit Einverständnis" in text and "Flipchart der AG" in text
    for caption in ("AG ohne Einverständnis", "Nicht freigegeben", "Unbekannte Person"):
        assert caption not in text
    assert [file for file, _ in result.photos_left_out] == [
        "photos/02-ag.jpg",
        "photos/03-privat.jpg",
        "photos/04-fremd.jpg",
    ]
    # the photos were scaled and copied into the event's folder, the only folder the PDF may read
    assert sorted(p.name for p in (event_dir(rt.settings, slug) / "photos").iterdir())[0] == "01-plenum.jpg"


def test_a_long_recap_gets_a_table_of_contents(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "barcamp")
    add_people(rt, slug)
    paragraph = "Die Teilnehmenden haben ausführlich diskutiert und viele Ideen gesammelt. " * 12
    long = recap_model(FORMATS["barcamp"])(
        summary="\n\n".join([paragraph] * 8),
        outcomes="\n\n".join([paragraph] * 8),
        sessions=tuple(
            Session(round=r, table=t, title=f"Session {r}.{t}", host="Gastgeber*in")
            for r in (1, 2, 3)
            for t in range(1, 9)
        ),
        ideas=tuple(f"Idee Nummer {n}" for n in range(60)),
    )
    intake.store_recap(rt, slug, long)
    result = document.render_recap(rt, slug)
    text = pdf_text(result.path.read_bytes(), tmp_path)
    assert result.toc and result.pages > document.TOC_MIN_PAGES
    assert "Inhalt" in text and re.search(r"Sessionplan ?\.{5,} ?\d", text)
    short = document.render_recap(rt, slug, Recap(summary="Kurz."))
    assert not short.toc


def test_without_check_ins_the_figures_say_so(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "barcamp")
    add_people(rt, slug, [(n, e, o, True, True, False) for n, e, o, *_ in PEOPLE])
    intake.store_recap(rt, slug, Recap(summary="Kurz."))
    result = document.render_recap(rt, slug)
    text = pdf_text(result.path.read_bytes(), tmp_path)
    assert not result.figures.checked_in and "Die Teilnahme wurde nicht erfasst" in text
    assert "Beteiligte Organisationen" not in text


def test_a_figure_without_data_is_left_out_not_shown_as_zero(rt: runtime.Runtime, tmp_path: Path) -> None:
    def figures(result: document.RecapResult) -> tuple[str, str]:
        """The boxes of "Teilnahme in Zahlen" (value and label), and the note below them."""
        text = pdf_text(result.path.read_bytes(), tmp_path, layout=False).split("Teilnahme in Zahlen")[1]
        note = re.search(r"Teilgenommen:|Die Teilnahme wurde", text)
        assert note is not None
        return text[: note.start()], text[note.start() :]

    slug = add_event(rt, "barcamp")
    # they came, but nobody gave a town (the registration asks, optionally) or an organisation
    add_people(rt, slug, [(n, e, "", listed, photos, came) for n, e, _, listed, photos, came in PEOPLE])
    intake.store_recap(rt, slug, Recap(summary="Kurz."))
    result = document.render_recap(rt, slug)
    assert (result.figures.attended, result.figures.organisations, result.figures.towns) == (3, 0, 0)
    boxes, note = figures(result)
    assert boxes.split() == ["4", "angemeldet", "3", "teilgenommen"]  # no "0 Organisationen", no "0 Orte"
    assert "niemand einen Wohnort angegeben" in note and "niemand eine Organisation angegeben" in note
    assert "Personen. Von den Teilnehmenden" in note and "gezählt. Von den Teilnehmenden" in note  # one space apart
    # nobody checked in: no attendance box either (not a dash), and the note says why
    slug = add_event(rt, "fachvernetzung")
    add_people(rt, slug, [(n, e, o, listed, photos, False) for n, e, o, listed, photos, _ in PEOPLE])
    intake.store_recap(rt, slug, Recap(summary="Kurz."))
    boxes, note = figures(document.render_recap(rt, slug))
    assert boxes.split() == ["4", "angemeldet"]
    assert note.startswith("Die Teilnahme wurde nicht erfasst") and "angegeben" not in note


def test_a_multi_day_recap_gives_attendance_per_day(rt: runtime.Runtime, tmp_path: Path) -> None:
    from eventkit.door import checkins
    from tests.test_spec import GOOD

    slug = add_event(rt, "fachvernetzung", GOOD.replace("end: 2027-11-20T17:00", "end: 2027-11-21T17:00"))
    add_people(rt, slug, [(n, e, o, listed, photos, False) for n, e, o, listed, photos, _ in PEOPLE])
    with rt.store.session() as session:
        ids = dict(session.execute(select(Person.email, Registration.id).join(Registration)).tuples().all())
    saturday, sunday = datetime(2027, 11, 20, 11, 0, tzinfo=UTC), datetime(2027, 11, 21, 9, 0, tzinfo=UTC)
    for address, at in (
        ("renate@example.org", saturday),
        ("dmitri@example.org", saturday),
        ("dmitri@example.org", sunday),
        ("m.alahmad@example.org", sunday),
        ("olena@example.org", sunday),
    ):
        assert checkins.check_in(rt, slug, ids[address], True, now=at)
    intake.store_recap(rt, slug, Recap(summary="Kurz."))
    result = document.render_recap(rt, slug)
    assert result.figures.attended == 4
    assert [(d.isoformat(), n) for d, n in result.figures.per_day] == [("2027-11-20", 2), ("2027-11-21", 3)]
    text = pdf_text(result.path.read_bytes(), tmp_path)
    assert "Teilnahme pro Tag: Samstag, 20. November 2027: 2 · Sonntag, 21. November 2027: 3" in text
    assert "an mindestens einem der Tage eingecheckte Personen" in text


def test_a_single_day_recap_has_no_figures_per_day(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "fachvernetzung")
    add_people(rt, slug)
    intake.store_recap(rt, slug, Recap(summary="Kurz."))
    result = document.render_recap(rt, slug)
    assert result.figures.attended == 3 and result.figures.per_day == []
    assert "Teilnahme pro Tag" not in pdf_text(result.path.read_bytes(), tmp_path)


# --------------------------------------------------------------------------------------------- safety

EVIL = (
    '<img src="file:///etc/passwd"> <script>document.write("EXECUTED")</script>'
    " <style>@import url(http://169.254.169.254/);</style> @import url(http://169.254.169.254/);"
)


def test_nothing_anyone_writes_is_fetched_or_executed(
    rt: runtime.Runtime,
    tmp_path: Path,
    http_server: tuple[str, Hits],  # noqa: F811 - the fixture of tests/test_pdf.py
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, hits = http_server
    evil = EVIL + f' <img src="{url}/x.png"> <link rel="stylesheet" href="{url}/s.css"> ![bild]({url}/md.png)'
    one_line = " ".join(evil.split())
    spec = (EXAMPLES / "barcamp-hannover.yaml").read_text()
    slug = add_event(
        rt, "barcamp", spec.replace("title: BarCamp Städtepartnerschaften 2027", f"title: '{one_line[:190]}'")
    )
    add_people(
        rt,
        slug,
        [(one_line[:190], "evil@example.org", one_line[:290], True, True, True)],
        town=evil,
        session_title=evil,
    )
    data = {
        "event": slug,
        "summary": evil,
        "agenda": [{"time": "16:00", "title": one_line[:290], "notes": evil}],
        "outcomes": evil,
        "sessions": [{"round": 1, "table": 1, "title": one_line[:290], "host": one_line[:290], "notes": evil}],
        "ideas": [evil],
    }
    (tmp_path / "recap.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))
    intake.take_input(rt, slug, tmp_path / "recap.yaml")
    fetchers: list[SafeFetcher] = []
    original = SafeFetcher.fetch

    def counting(self: SafeFetcher, url: str, headers: Any = None) -> Any:
        fetchers.append(self)
        return original(self, url, headers)

    monkeypatch.setattr(SafeFetcher, "fetch", counting)
    result = document.render_recap(rt, slug)
    from eventkit.recap.attendance import render_attendance

    listed = render_attendance(rt, slug, blank=True)
    assert hits.paths == []
    # nothing was asked for: every text arrived escaped, so no element or rule was made of it
    assert fetchers == [] and result.refused_urls == []
    text = pdf_text(result.path.read_bytes(), tmp_path)
    assert '<img src="file:///etc/passwd">' in text and "<script>" in text
    assert 'document.write("EXECUTED")' in text and "EXECUTED" not in text.replace('write("EXECUTED")', "")
    assert "@import url(http://169.254.169.254/)" in text
    listing = pdf_text(listed.path.read_bytes(), tmp_path)
    assert "<script>" in listing and '<img src="file:///etc/passwd">' in listing


# --------------------------------------------------------------------------------------------- thanks


def _ready(rt: runtime.Runtime) -> str:
    slug = add_event(rt, "fachvernetzung")
    add_people(rt, slug)
    intake.take_input(rt, slug, EXAMPLES / "recaps" / "fachvernetzung-gifhorn.yaml")
    document.render_recap(rt, slug)
    return slug


def _outbox(rt: runtime.Runtime) -> list[OutboxMessage]:
    with rt.store.session() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == thanks.THANKS_KIND)))


def test_thanks_go_to_attendees_once_with_the_recap_attached(rt: runtime.Runtime) -> None:
    slug = _ready(rt)
    first = thanks.enqueue_thanks(rt, slug)
    assert (first["thanks"], first["already"], first["attached"], first["not_attended"]) == (3, 0, 1, 1)
    again = thanks.enqueue_thanks(rt, slug)
    assert (again["thanks"], again["already"]) == (0, 3)
    rows = _outbox(rt)
    assert sorted(r.recipient for r in rows) == ["dmitri@example.org", "m.alahmad@example.org", "renate@example.org"]
    assert rows[0].raw is not None
    message = email.message_from_bytes(rows[0].raw, policy=email.policy.default)
    assert message["Subject"] == "Danke für Ihre Teilnahme an „Fachvernetzung 2027 im Landkreis Gifhorn“: der Bericht"
    pdf = next(p for p in message.walk() if p.get_content_type() == "application/pdf")
    assert pdf.get_filename() == f"Bericht-{slug}.pdf"
    assert pdf.get_content() == document.recap_path(rt.settings, slug).read_bytes()
    body = message.get_body(("plain",))
    assert body is not None and "im Anhang" in body.get_content() and "recap.pdf?t=" not in body.get_content()


def test_a_large_recap_is_linked_and_the_link_is_personal(rt: runtime.Runtime) -> None:
    from eventkit.web.app import create_app

    slug = _ready(rt)
    thanks.enqueue_thanks(rt, slug, attach_max=1000)
    rows = _outbox(rt)
    assert rows[0].raw is not None
    message = email.message_from_bytes(rows[0].raw, policy=email.policy.default)
    assert not any(p.get_content_type() == "application/pdf" for p in message.walk())
    body = message.get_body(("plain",))
    assert body is not None
    link = next(line for line in body.get_content().splitlines() if "/recap.pdf?t=" in line).strip()
    path = link.removeprefix(rt.settings.base_url)
    with TestClient(create_app(rt)) as client:
        ok = client.get(path)
        assert ok.status_code == 200 and ok.headers["content-type"] == "application/pdf"
        assert ok.content == document.recap_path(rt.settings, slug).read_bytes()
        assert "no-store" in ok.headers["cache-control"]
        token = path.split("t=", 1)[1]
        head, mac = token.split(".", 1)
        assert client.get(f"/e/{slug}/recap.pdf?t={head}.{mac[::-1]}").status_code == 404
        assert client.get(f"/e/{slug}/recap.pdf").status_code == 404
        assert client.get(f"/e/{slug}/recap.pdf?t={int(head) + 1}.{mac}").status_code == 404
    # the token is bound to the purpose: a manage token of the same registration does not open it
    from eventkit.core.tokens import signed_token

    with rt.store.session() as session:
        reg = session.get(Registration, int(head))
        assert reg is not None
        manage = signed_token(rt.settings.secret_key, "manage", reg.id, reg.token_nonce)
    assert thanks.document_for_token(rt, slug, manage) is None
    assert thanks.document_for_token(rt, slug, token) is not None

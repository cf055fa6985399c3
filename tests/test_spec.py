"""Event specs: valid ones load for every format; mistakes are named by file, line, field and problem."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from eventkit.core.validation import Problems, ValidationFailed
from eventkit.model.formats import discover
from eventkit.model.spec import EventSpecModel, load_spec, parse_spec, spec_from_data
from tests.conftest import EXAMPLES, TEMPLATES

GOOD = """\
title: Fachvernetzung 2027
format: fachvernetzung
start: 2027-11-20T12:00
end: 2027-11-20T17:00
timezone: Europe/Berlin
language: de
venue: {name: Rathaus Gifhorn, address: "Marktplatz 1, 38518 Gifhorn", accessibility: stufenlos}
organiser: {name: Queeres Netzwerk Gifhorn e.V., email: info@qng.example.org}
capacity: 40
registration_deadline: 2027-11-16T23:59
funding: "Gefördert im Rahmen des Bundesprogramms „Demokratie leben!“"
agenda:
  - {time: "12:00", title: Vorstellungs- und Begrüßungsrunde}
  - {time: "13:30", title: Rückblick}
"""


def problems(text: str, language: str = "en") -> str:
    with pytest.raises(ValidationFailed) as info:
        parse_spec(text, TEMPLATES, source="event.yaml")
    return info.value.render(language)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_examples_load(path: Path) -> None:
    spec = load_spec(path, TEMPLATES)
    assert spec.end > spec.start
    assert spec.organiser.email.endswith((".example.org", ".example.net", ".example.com", "example.org"))


def test_examples_cover_every_format_and_a_two_day_event() -> None:
    specs = [load_spec(p, TEMPLATES) for p in EXAMPLES.glob("*.yaml")]
    assert {s.format for s in specs} >= {"fachvernetzung", "netzwerktreffen", "barcamp"}
    assert any(len(s.days) == 2 for s in specs)


def test_good_spec() -> None:
    spec = parse_spec(GOOD, TEMPLATES)
    assert spec.slug == "fachvernetzung-2027-gifhorn"
    assert spec.start.utcoffset() == timedelta(hours=1)
    assert [a.title for a in spec.agenda] == ["Vorstellungs- und Begrüßungsrunde", "Rückblick"]
    assert spec.town == "Gifhorn"


def test_unquoted_yaml_times_in_the_agenda_still_work() -> None:
    # YAML 1.1 reads 12:00 without quotes as the number 720
    spec = parse_spec(GOOD.replace('time: "12:00"', "time: 12:00"), TEMPLATES)
    assert spec.agenda[0].start.hour == 12


def test_end_defaults_to_the_formats_duration() -> None:
    spec = parse_spec(GOOD.replace("end: 2027-11-20T17:00\n", ""), TEMPLATES)
    assert spec.end > spec.start


def test_two_day_event_with_agenda_per_day() -> None:
    text = GOOD.replace("end: 2027-11-20T17:00", "end: 2027-11-21T15:00").replace(
        '  - {time: "13:30", title: Rückblick}', '  - {time: "09:30", day: 2, title: Workshops}'
    )
    spec = parse_spec(text, TEMPLATES)
    assert len(spec.days) == 2
    assert spec.agenda[1].start.date() == spec.days[1]


def test_missing_field_names_file_and_field() -> None:
    msg = problems(GOOD.replace("title: Fachvernetzung 2027\n", ""))
    assert "event.yaml: title: is required" in msg


def test_end_before_start_names_the_line() -> None:
    msg = problems(GOOD.replace("end: 2027-11-20T17:00", "end: 2027-11-20T11:00"))
    assert "event.yaml:4: end:" in msg and "after the start" in msg


def test_unknown_format_lists_the_known_ones() -> None:
    msg = problems(GOOD.replace("format: fachvernetzung", "format: konferenz"))
    assert "event.yaml:2: format:" in msg
    assert "barcamp" in msg and "netzwerktreffen" in msg


def test_unknown_time_zone() -> None:
    msg = problems(GOOD.replace("timezone: Europe/Berlin", "timezone: Europe/Gifhorn"))
    assert "event.yaml:5: timezone:" in msg


def test_typo_in_a_key_gets_a_suggestion() -> None:
    msg = problems(GOOD.replace("capacity: 40", "capacty: 40"))
    assert "capacty" in msg and "capacity" in msg


def test_wrong_types_and_bad_email() -> None:
    msg = problems(GOOD.replace("capacity: 40", "capacity: viele").replace("info@qng.example.org", "info-at-qng"))
    assert "capacity:" in msg and "organiser.email:" in msg


def test_a_time_skipped_by_the_clock_change_is_refused() -> None:
    msg = problems(
        GOOD.replace("2027-11-20T12:00", "2027-03-28T02:30")
        .replace("2027-11-20T17:00", "2027-03-28T05:00")
        .replace("2027-11-16T23:59", "2027-03-20T23:59")
    )
    assert "start:" in msg and "does not exist" in msg


def test_control_characters_in_a_title_are_refused() -> None:
    msg = problems(GOOD.replace("title: Fachvernetzung 2027", 'title: "Fachvernetzung\\r\\nBcc: x@example.net"'))
    assert "title:" in msg


def test_agenda_outside_the_event() -> None:
    msg = problems(GOOD.replace('time: "13:30"', 'time: "19:30"'))
    assert "agenda[1].time:" in msg


def test_messages_in_german() -> None:
    msg = problems(GOOD.replace("title: Fachvernetzung 2027\n", ""), language="de")
    assert "title: ist erforderlich" in msg


def test_not_yaml_at_all() -> None:
    msg = problems("title: [unclosed\n")
    assert "event.yaml" in msg and "YAML" in msg


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "event.yaml"
    path.write_bytes(GOOD.encode("cp1252"))
    with pytest.raises(ValidationFailed) as info:
        load_spec(path, TEMPLATES)
    assert "UTF-8" in info.value.render("en")


def test_the_spec_model_gives_the_json_schema_of_the_spec() -> None:
    schema = EventSpecModel.model_json_schema()
    fixed = ("title", "format", "start", "end", "timezone", "language", "venue", "online_url", "organiser")
    more = ("capacity", "registration_deadline", "funding", "agenda", "slug", "description")
    assert set(schema["properties"]) >= {*fixed, *more}
    assert set(schema["required"]) == {"title", "format", "start", "organiser"}
    assert schema["properties"]["start"]["format"] == "date-time"
    venue = schema["$defs"]["Venue"]
    assert set(venue["properties"]) == {"name", "address", "accessibility", "directions"}
    assert venue["required"] == ["name"]
    assert set(schema["$defs"]["AgendaEntry"]["properties"]) == {"time", "title", "day", "until"}
    # the keys formats add (spec_fields) are there too, with their own shape
    assert {"survey", "session_grid", "working_groups", "registration_per_day"} <= set(schema["properties"])


def test_the_model_checks_a_mapping_as_the_yaml_loader_does() -> None:
    data = yaml.safe_load(GOOD)
    formats = discover(TEMPLATES)
    model = EventSpecModel.model_validate(data, context={"formats": formats})
    assert model.to_spec(formats["fachvernetzung"]) == parse_spec(GOOD, TEMPLATES)
    with pytest.raises(ValidationFailed) as info:
        spec_from_data({**data, "capacity": 0, "titel": "x"}, formats, Problems("form"))
    assert [p.field for p in info.value.problems] == ["titel", "capacity"]
    assert info.value.render("en").startswith("form: titel: unknown key; did you mean 'title'?")

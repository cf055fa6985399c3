"""Invitee CSV files: what organisers' spreadsheets really contain, and the errors they get."""

from __future__ import annotations

import pytest

from eventkit.core.validation import ValidationFailed
from eventkit.model.invitees import parse_invitees


def errors(raw: bytes, language: str = "en") -> str:
    with pytest.raises(ValidationFailed) as info:
        parse_invitees(raw, source="gaeste.csv")
    return info.value.render(language)


def test_reads_names_in_any_script_and_optional_columns() -> None:
    raw = (
        "email,name,organisation,language\n"
        "ayse@example.org,Ayşe Yılmaz,Interkultureller Verein Gera e.V.,de\n"
        "m.alahmad@example.org,محمد الأحمد,,en\n"
        "dmitri@example.org,Дмитрий Иванов,Abli e.V.,\n"
    ).encode()
    rows = parse_invitees(raw)
    assert [r.name for r in rows] == ["Ayşe Yılmaz", "محمد الأحمد", "Дмитрий Иванов"]
    assert rows[1].organisation is None and rows[1].language == "en"
    assert rows[2].language is None
    assert [r.line for r in rows] == [2, 3, 4]


def test_excel_style_semicolons_bom_and_german_headers() -> None:
    raw = (
        "\ufeffE-Mail;Name;Organisation;Sprache\r\njoerg@example.org;Jörg Müller;Bündnis für Demokratie;de\r\n".encode()
    )
    rows = parse_invitees(raw)
    assert rows[0].email == "joerg@example.org" and rows[0].name == "Jörg Müller"


def test_internationalised_domain_is_accepted() -> None:
    rows = parse_invitees("email,name\ninfo@bücherei-beispiel.example,Stadtbücherei\n".encode())
    assert rows[0].email == "info@bücherei-beispiel.example"


def test_bad_address_names_line_and_field() -> None:
    msg = errors(b"email,name\nok@example.org,A\nnot-an-address,B\n")
    assert "gaeste.csv:3: email:" in msg
    assert "not-an-address" in msg


def test_duplicate_rows_are_reported_with_both_lines() -> None:
    msg = errors(b"email,name\na@example.org,A\nb@example.org,B\nA@Example.org,A again\n")
    assert "gaeste.csv:4: email:" in msg
    assert "line 2" in msg


def test_missing_column() -> None:
    msg = errors(b"mail address,name\na@example.org,A\n")
    assert "gaeste.csv:1:" in msg and "email" in msg


def test_windows_1252_file_is_refused_with_advice() -> None:
    raw = "email,name\nj@example.org,Jörg Müller\n".encode("cp1252")
    msg = errors(raw)
    assert "gaeste.csv:2:" in msg
    assert "UTF-8" in msg


def test_message_in_german() -> None:
    msg = errors(b"email,name\n,Ohne Adresse\n", language="de")
    assert "gaeste.csv:2: email:" in msg
    assert "leer" in msg


def test_control_characters_in_a_name_are_refused() -> None:
    msg = errors(b'email,name\neve@example.org,"Eve\r\nBcc: x@example.net"\n')
    assert "name:" in msg


def test_all_problems_are_reported_at_once() -> None:
    msg = errors(b"email,name,language\nbad,A,de\nb@example.org,,de\nc@example.org,C,fr\n")
    assert msg.count("\n") == 2  # three problems, three lines


def test_empty_and_header_only_files() -> None:
    assert "empty" in errors(b"")
    assert "no invitees" in errors(b"email,name,organisation,language\n")


def test_over_long_name_and_organisation() -> None:
    raw = f"email,name,organisation\na@example.org,{'N' * 10_000},{'O' * 400}\n".encode()
    msg = errors(raw)
    assert "gaeste.csv:2: name: is too long (10000 characters, at most 200)" in msg
    assert "gaeste.csv:2: organisation: is too long (400 characters, at most 300)" in msg

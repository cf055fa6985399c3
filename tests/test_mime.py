"""MIME messages parsed back with the standard library's parser, which eventkit does not use to build them."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import idna
import pytest

from eventkit.mail.mime import CalendarPart, Message, format_address

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:x@example.org\r\n"
    "SUMMARY:Netzwerktreffen – Gera\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
).encode()


def build(**kw: object) -> tuple[email.message.EmailMessage, bytes, bool]:
    args: dict[str, object] = dict(
        sender=("MigraNetz Thüringen e.V.", "noreply@events.example.org"),
        to=("Дмитрий Иванов", "dmitri@example.org"),
        reply_to=("MigraNetz Thüringen e.V.", "kontakt@migranetz.example.org"),
        subject="Einladung: 1. Netzwerktreffen 2027 – Gera, Samstag, 3. April 2027",
        text="Hallo Дмитрий,\n\nwir laden Sie herzlich ein.\n",
        html="<p>Hallo Дмитрий,</p><p>wir laden Sie herzlich ein.</p>",
        message_id="<abc123@events.example.org>",
        date=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        calendar=CalendarPart(ICS, "REQUEST", "einladung.ics"),
    )
    args.update(kw)
    raw, utf8 = Message(**args).build()  # type: ignore[arg-type]
    return email.message_from_bytes(raw, policy=email.policy.default), raw, utf8  # type: ignore[return-value]


def test_structure_and_headers() -> None:
    msg, raw, utf8 = build()
    assert not utf8
    raw.decode("ascii")  # all non-ASCII is encoded
    assert msg.get_content_type() == "multipart/mixed"
    types = [p.get_content_type() for p in msg.walk()]
    assert types == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "text/calendar",
        "application/ics",
    ]
    assert msg["Message-ID"] == "<abc123@events.example.org>"
    assert msg["Reply-To"].addresses[0].addr_spec == "kontakt@migranetz.example.org"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["Date"].datetime == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert msg["Subject"] == "Einladung: 1. Netzwerktreffen 2027 – Gera, Samstag, 3. April 2027"
    assert msg["To"].addresses[0].display_name == "Дмитрий Иванов"
    assert msg["From"].addresses[0].display_name == "MigraNetz Thüringen e.V."
    for part in msg.walk():
        assert not part.defects, part.defects


def test_calendar_part_method_matches_the_file() -> None:
    msg, _, _ = build()
    cal_part = next(p for p in msg.walk() if p.get_content_type() == "text/calendar")
    assert cal_part.get_param("method") == "REQUEST"
    body = cal_part.get_content()
    assert "METHOD:REQUEST" in body
    attachment = next(p for p in msg.walk() if p.get_content_type() == "application/ics")
    assert attachment.get_filename() == "einladung.ics"
    assert attachment.get_content() == ICS


def test_bodies_round_trip() -> None:
    msg, _, _ = build()
    assert (
        msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        == "Hallo Дмитрий,\n\nwir laden Sie herzlich ein.\n"
    )
    assert "Дмитрий" in msg.get_body(("html",)).get_content()


def test_physical_lines_stay_within_rfc5322_limits() -> None:
    msg, raw, _ = build(subject="Ein sehr langer Betreff – " * 20, text="x" * 3000 + "\n")
    for line in raw.split(b"\r\n"):
        assert len(line) <= 998
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    for line in header_block.split(b"\r\n"):
        assert len(line) <= 78, line
    assert msg["Subject"] == ("Ein sehr langer Betreff – " * 20).strip()


@pytest.mark.parametrize(
    "evil",
    [
        "Eve\r\nBcc: victim@example.net",
        "Eve\nBcc: victim@example.net",
        "Eve\rBcc: victim@example.net",
        "Eve\u2028Bcc: victim@example.net",
    ],
)
def test_no_crlf_reaches_a_header(evil: str) -> None:
    msg, raw, _ = build(to=(evil, "eve@example.org"), subject=evil)
    assert msg["Bcc"] is None
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw
    assert [a.addr_spec for a in msg["To"].addresses] == ["eve@example.org"]


@pytest.mark.parametrize(
    "name", ["Müller, Jörg", "محمد الأحمد", "Дмитрий", "李小龍", "Olena 🌻 Kovalenko", 'Ann "Nan" O\'Neil']
)
def test_names_in_any_script_come_out_intact(name: str) -> None:
    msg, _, _ = build(to=(name, "someone@example.org"))
    assert msg["To"].addresses[0].display_name == name
    assert msg["To"].addresses[0].addr_spec == "someone@example.org"


def test_internationalised_domain_is_sent_in_idna_form() -> None:
    msg, raw, utf8 = build(to=("Bücherei", "info@bücherei-beispiel.example"))
    assert not utf8
    expected = idna.encode("bücherei-beispiel.example").decode()  # IDNA 2008, not Python's IDNA 2003 codec
    assert expected.startswith("xn--")
    assert msg["To"].addresses[0].domain == expected
    assert expected.encode() in raw


def test_non_ascii_local_part_needs_smtputf8() -> None:
    header, utf8 = format_address("Jürgen", "jürgen@example.org")
    assert utf8
    assert "jürgen@example.org" in header

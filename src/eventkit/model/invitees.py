"""Invitee lists: CSV files (email, name, organisation, language) read and checked row by row."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from eventkit.core.i18n import LANGUAGES
from eventkit.core.validation import N_, Problems, ValidationFailed, clean_line, has_control

# German spreadsheets often carry German headers; both are accepted
COLUMN_ALIASES = {
    "email": "email",
    "e-mail": "email",
    "mail": "email",
    "e-mail-adresse": "email",
    "emailadresse": "email",
    "name": "name",
    "vollständiger name": "name",
    "organisation": "organisation",
    "organization": "organisation",
    "verein": "organisation",
    "organisation/initiative": "organisation",
    "language": "language",
    "sprache": "language",
}
REQUIRED = ("email", "name")
MAX_NAME = 200
MAX_ORGANISATION = 300
MAX_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class Invitee:
    email: str  # normalised: Unicode domain as typed, lower-cased; the IDNA form is made when sending
    name: str
    organisation: str | None
    language: str | None
    line: int


def read_invitees(path: Path) -> list[Invitee]:
    problems = Problems(str(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.add(None, N_("cannot read the file: %(reason)s"), reason=exc.strerror or str(exc))
        raise ValidationFailed(problems.items) from None
    return parse_invitees(raw, source=str(path))


def _decode(raw: bytes, problems: Problems) -> str | None:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            problems.add(None, N_("the file is UTF-16 encoded; save it as CSV (UTF-8) and try again"))
        else:
            problems.add(
                None,
                N_(
                    "the file is not UTF-8 encoded (byte 0x%(byte)s; spreadsheet programs often save "
                    "Windows-1252): save it as CSV (UTF-8) and try again"
                ),
                byte=f"{raw[exc.start]:02X}",
                line=line,
            )
        return None


def parse_invitees(raw: bytes, source: str = "<csv>") -> list[Invitee]:
    problems = Problems(source)
    text = _decode(raw, problems)
    if text is None:
        raise ValidationFailed(problems.items)
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        problems.add(None, N_("the file is empty; expected a header line with email,name,organisation,language"))
        raise ValidationFailed(problems.items) from None
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        key = COLUMN_ALIASES.get(title.strip().lower())
        if key and key not in columns:
            columns[key] = index
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        problems.add(
            None,
            N_(
                "missing column %(columns)s (the header line must name email and name; "
                "organisation and language are optional)"
            ),
            columns=", ".join(missing),
            line=1,
        )
        raise ValidationFailed(problems.items)

    invitees: list[Invitee] = []
    seen: dict[str, int] = {}
    try:
        for number, row in enumerate(reader, start=2):
            if number - 1 > MAX_ROWS:
                problems.add(None, N_("too many rows (more than %(max)s)"), max=MAX_ROWS)
                raise ValidationFailed(problems.items)
            _check_row(number, row, columns, problems, seen, invitees)
    except csv.Error as exc:
        problems.add(None, N_("the file is not valid CSV: %(reason)s"), reason=str(exc))
        raise ValidationFailed(problems.items) from None
    if not invitees and not problems:
        problems.add(None, N_("the file has a header but no invitees"))
    problems.raise_if_any()
    return invitees


def _check_text(problems: Problems, field: str, value: str, max_len: int, number: int, *, required: bool) -> bool:
    """A one-line text cell: present if required, no control characters, not too long."""
    if required and not value.strip():
        problems.add(field, N_("is empty"), line=number)
    elif has_control(value):
        problems.add(field, N_("contains a line break or control character"), line=number)
    elif len(value) > max_len:
        problems.add(
            field,
            N_("is too long (%(length)s characters, at most %(max)s)"),
            line=number,
            length=len(value),
            max=max_len,
        )
    else:
        return True
    return False


def _check_row(
    number: int,
    row: list[str],
    columns: dict[str, int],
    problems: Problems,
    seen: dict[str, int],
    invitees: list[Invitee],
) -> None:
    # a quoted cell may span lines; the number is the row's first line, which is where to look
    if not any(cell.strip() for cell in row):
        return

    def cell(name: str) -> str:
        idx = columns.get(name)
        return row[idx] if idx is not None and idx < len(row) else ""

    ok = True
    email_raw = cell("email").strip()
    email = ""
    if not email_raw:
        problems.add("email", N_("is empty"), line=number)
        ok = False
    elif has_control(email_raw):
        problems.add("email", N_("contains a line break or control character"), line=number)
        ok = False
    else:
        try:
            email = validate_email(email_raw, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            problems.add(
                "email",
                N_("%(value)r is not a valid email address: %(reason)s"),
                line=number,
                value=email_raw,
                reason=str(exc),
            )
            ok = False
    name = cell("name")
    ok = _check_text(problems, "name", name, MAX_NAME, number, required=True) and ok
    organisation = cell("organisation")
    ok = _check_text(problems, "organisation", organisation, MAX_ORGANISATION, number, required=False) and ok
    language = cell("language").strip().lower() or None
    if language and language not in LANGUAGES:
        problems.add("language", N_("must be one of %(choices)s or empty"), line=number, choices=", ".join(LANGUAGES))
        ok = False
    if email:
        key = email.lower()
        if key in seen:
            problems.add(
                "email",
                N_("%(value)s appears twice (also in line %(other)s)"),
                line=number,
                value=email,
                other=seen[key],
            )
            ok = False
        else:
            seen[key] = number
    if ok:
        invitees.append(Invitee(email.lower(), clean_line(name), clean_line(organisation) or None, language, number))

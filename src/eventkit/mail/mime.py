"""MIME messages (RFC 5322, 2045-2049, 2047, 6532) built as bytes: text, HTML and a calendar invite.

The standard library's EmailMessage parses every header it is given (about 5 ms a message); eventkit
writes the few headers it needs itself, encodes every non-ASCII header with RFC 2047 encoded words and
folds them, and lets CR/LF reach no header. Tests parse the result with the standard library's parser.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.utils import format_datetime

import idna

_UNSAFE_HEADER = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
# RFC 5322 atext plus space and '.': a display name made of these needs no quoting
_PLAIN_PHRASE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~ .-]*$")
_ASCII = re.compile(r"^[\x20-\x7e]*$")


class AddressError(ValueError):
    pass


def header_safe(value: str) -> str:
    """Collapse any line break or control character to one space: a value can never start a new header."""
    return _UNSAFE_HEADER.sub(" ", value).strip()


def ascii_address(address: str) -> tuple[str, bool]:
    """The address with its domain in IDNA form; the flag says the local part needs SMTPUTF8 (RFC 6531)."""
    address = header_safe(address)
    if address.count("@") != 1:
        raise AddressError(f"not an email address: {address!r}")
    local, domain = address.rsplit("@", 1)
    if not local or not domain:
        raise AddressError(f"not an email address: {address!r}")
    try:
        domain_ascii = idna.encode(domain, uts46=True).decode("ascii") if not _ASCII.match(domain) else domain
    except idna.IDNAError as exc:
        raise AddressError(f"domain {domain!r} cannot be written in IDNA form: {exc}") from None
    return f"{local}@{domain_ascii.lower()}", not bool(_ASCII.match(local))


def encode_words(value: str, header_name: str) -> str:
    """RFC 2047 encoded words, folded; never splits a UTF-8 sequence across words."""
    return Header(value, "utf-8", header_name=header_name).encode(linesep="\r\n")


def format_address(name: str | None, address: str, header_name: str = "To") -> tuple[str, bool]:
    """'Name <addr>' ready for a header, and whether the message needs SMTPUTF8."""
    addr, utf8 = ascii_address(address)
    name = header_safe(name or "")
    if not name:
        return f"<{addr}>", utf8
    if utf8:
        # RFC 6532: the whole header may be UTF-8; quote the name as a quoted-string
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{quoted}" <{addr}>', utf8
    if _PLAIN_PHRASE.match(name) and not name.endswith(".") and ".." not in name:
        phrase = name if "." not in name else f'"{name}"'
    elif _ASCII.match(name):
        phrase = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    else:
        phrase = encode_words(name, header_name)
    return f"{phrase} <{addr}>", utf8


def address_header(name: str, display: str | None, address: str) -> tuple[str, bool]:
    """A whole address header; the address goes on a folded line of its own when the line would be long."""
    value, utf8 = format_address(display, address, header_name=name)
    line = f"{name}: {value}"
    last = line.rsplit("\r\n", 1)[-1]
    if len(last) > 78 and " <" in value:
        phrase, _, addr = value.rpartition(" <")
        line = f"{name}: {phrase}\r\n <{addr}"
    return line, utf8


def _fold_plain(name: str, value: str) -> str:
    """Fold an ASCII unstructured header at spaces so lines stay under 78 characters."""
    line = f"{name}: {value}"
    if len(line) <= 78:
        return line
    out, current = [], f"{name}:"
    for word in value.split(" "):
        if len(current) + 1 + len(word) > 76 and current.strip() not in (f"{name}:",):
            out.append(current)
            current = " " + word
        else:
            current += " " + word
    out.append(current)
    return "\r\n".join(out)


def unstructured(name: str, value: str) -> str:
    value = header_safe(value)
    if _ASCII.match(value):
        return _fold_plain(name, value)
    return f"{name}: {encode_words(value, name)}"


def _qp(text: str) -> bytes:
    data = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("utf-8")
    return binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class CalendarPart:
    data: bytes
    method: str
    filename: str = "invite.ics"


@dataclass(frozen=True)
class Attachment:
    """A file sent with the message (the recap PDF, say), after the text and any calendar file."""

    data: bytes
    content_type: str
    filename: str


def _filename_params(filename: str) -> str:
    """name/filename parameters: quoted ASCII, plus RFC 2231 UTF-8 for a name with other characters."""
    name = header_safe(filename).replace('"', "").replace("\\", "")
    ascii_name = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    if ascii_name == name:
        return f'filename="{name}"'
    from urllib.parse import quote

    return f"filename=\"{ascii_name}\"; filename*=utf-8''{quote(name, safe='')}"


@dataclass
class Message:
    """Everything that goes into one email; build() turns it into the bytes the outbox keeps."""

    sender: tuple[str | None, str]
    to: tuple[str | None, str]
    subject: str
    text: str
    html: str | None
    message_id: str
    date: datetime
    reply_to: tuple[str | None, str] | None = None
    language: str = "de"
    calendar: CalendarPart | None = None
    extra_headers: Sequence[tuple[str, str]] = field(default_factory=tuple)
    attachments: Sequence[Attachment] = field(default_factory=tuple)

    def build(self) -> tuple[bytes, bool]:
        """The message as CRLF bytes, and whether it needs SMTPUTF8."""
        boundary_mixed = "=_ek_m_" + secrets.token_hex(12)
        boundary_alt = "=_ek_a_" + secrets.token_hex(12)
        from_header, utf8_from = address_header("From", *self.sender)
        to_header, utf8_to = address_header("To", *self.to)
        headers = [from_header, to_header]
        utf8 = utf8_from or utf8_to
        if self.reply_to:
            reply_header, utf8_reply = address_header("Reply-To", *self.reply_to)
            headers.append(reply_header)
            utf8 = utf8 or utf8_reply
        headers += [
            unstructured("Subject", self.subject),
            f"Date: {format_datetime(self.date)}",
            f"Message-ID: {header_safe(self.message_id)}",
            "MIME-Version: 1.0",
            f"Content-Language: {header_safe(self.language)}",
            # RFC 3834: no vacation auto-replies to a mass mailing; Outlook has its own switch
            "Auto-Submitted: auto-generated",
            "X-Auto-Response-Suppress: OOF, AutoReply",
        ]
        for name, value in self.extra_headers:
            headers.append(unstructured(header_safe(name).replace(":", ""), value))

        alt: list[bytes] = [
            _part("text/plain; charset=utf-8", "quoted-printable", _qp(self.text)),
        ]
        if self.html is not None:
            alt.append(_part("text/html; charset=utf-8", "quoted-printable", _qp(self.html)))
        if self.calendar is not None:
            method = header_safe(self.calendar.method)
            alt.append(_part(f"text/calendar; charset=utf-8; method={method}", "base64", _b64(self.calendar.data)))
        alternative = _multipart("alternative", boundary_alt, alt)

        files: list[bytes] = []
        if self.calendar is not None:
            filename = header_safe(self.calendar.filename).replace('"', "")
            files.append(
                _part(
                    f'application/ics; name="{filename}"',
                    "base64",
                    _b64(self.calendar.data),
                    disposition=f'attachment; filename="{filename}"',
                )
            )
        for item in self.attachments:
            params = _filename_params(item.filename)
            content_type = header_safe(item.content_type).replace(";", "")
            files.append(
                _part(
                    f"{content_type}; {params.replace('filename', 'name')}",
                    "base64",
                    _b64(item.data),
                    disposition=f"attachment; {params}",
                )
            )
        body = _multipart("mixed", boundary_mixed, [alternative, *files]) if files else alternative
        head = "\r\n".join(headers).encode("utf-8" if utf8 else "ascii")
        return head + b"\r\n" + body, utf8


def _part(content_type: str, encoding: str, payload: bytes, disposition: str | None = None) -> bytes:
    lines = [f"Content-Type: {content_type}", f"Content-Transfer-Encoding: {encoding}"]
    if disposition:
        lines.append(f"Content-Disposition: {disposition}")
    # the CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1): keep the content's own last one
    payload += b"\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + payload


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    b = boundary.encode("ascii")
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode("ascii")]
    for part in parts:
        out.append(b"--" + b + b"\r\n" + part)
    out.append(b"--" + b + b"--\r\n")
    return b"".join(out)

"""The event spec: a YAML file an organiser writes, validated into an EventSpec with clear errors."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from eventkit.core.i18n import LANGUAGES
from eventkit.core.validation import N_, Problems, ValidationFailed, clean_line, has_control, read_text_file
from eventkit.core.yamlfile import parse_yaml
from eventkit.model.formats import Format, discover

FIXED_KEYS = (
    "slug",
    "title",
    "format",
    "start",
    "end",
    "timezone",
    "language",
    "venue",
    "online_url",
    "organiser",
    "capacity",
    "registration_deadline",
    "funding",
    "agenda",
    "description",
)
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_TITLE = 200
MAX_TEXT = 5000


@dataclass(frozen=True)
class Venue:
    name: str
    address: str = ""
    accessibility: str = ""
    directions: str = ""


@dataclass(frozen=True)
class Organiser:
    name: str
    email: str


@dataclass(frozen=True)
class AgendaItem:
    start: datetime  # aware, in the event's time zone
    title: str
    end: datetime | None = None


@dataclass(frozen=True)
class EventSpec:
    slug: str
    title: str
    format: str
    start: datetime  # aware, in `timezone`
    end: datetime
    timezone: str
    language: str
    organiser: Organiser
    venue: Venue | None = None
    online_url: str | None = None
    capacity: int | None = None
    registration_deadline: datetime | None = None
    funding: str | None = None
    description: str | None = None
    agenda: tuple[AgendaItem, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def days(self) -> list[date]:
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    @property
    def multi_day(self) -> bool:
        return len(self.days) > 1

    @property
    def town(self) -> str:
        return town_of(self.venue.address) if self.venue else ""

    def to_data(self) -> dict[str, Any]:
        """A JSON-able form, stored with the event so that later phases see what the organiser wrote."""
        return {
            "slug": self.slug,
            "title": self.title,
            "format": self.format,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "language": self.language,
            "organiser": {"name": self.organiser.name, "email": self.organiser.email},
            "venue": None if self.venue is None else vars(self.venue).copy(),
            "online_url": self.online_url,
            "capacity": self.capacity,
            "registration_deadline": self.registration_deadline.isoformat() if self.registration_deadline else None,
            "funding": self.funding,
            "description": self.description,
            "agenda": [
                {"start": a.start.isoformat(), "title": a.title, "end": a.end.isoformat() if a.end else None}
                for a in self.agenda
            ],
            "extra": self.extra,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> EventSpec:
        def dt(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        tz = ZoneInfo(data["timezone"])
        return cls(
            slug=data["slug"],
            title=data["title"],
            format=data["format"],
            start=datetime.fromisoformat(data["start"]).astimezone(tz),
            end=datetime.fromisoformat(data["end"]).astimezone(tz),
            timezone=data["timezone"],
            language=data["language"],
            organiser=Organiser(**data["organiser"]),
            venue=Venue(**data["venue"]) if data.get("venue") else None,
            online_url=data.get("online_url"),
            capacity=data.get("capacity"),
            registration_deadline=dt(data.get("registration_deadline")),
            funding=data.get("funding"),
            description=data.get("description"),
            agenda=tuple(
                AgendaItem(datetime.fromisoformat(a["start"]).astimezone(tz), a["title"], dt(a.get("end")))
                for a in data.get("agenda", [])
            ),
            extra=data.get("extra") or {},
        )


def town_of(address: str) -> str:
    """'Marktplatz 1, 38518 Gifhorn' -> 'Gifhorn' (German postcode first, else the last part)."""
    match = re.search(r"\b\d{5}\s+([^,\d][^,]*)", address)
    if match:
        return match.group(1).strip()
    return address.rsplit(",", 1)[-1].strip() if address else ""


def slugify(text: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})
    ascii_text = unicodedata.normalize("NFKD", text.translate(table)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def load_spec(path: Path, template_dir: Path) -> EventSpec:
    """Read and validate a spec file; raises ValidationFailed naming file, line, field and problem."""
    return parse_spec(read_text_file(path), template_dir, source=str(path))


def parse_spec(text: str, template_dir: Path, source: str = "<spec>") -> EventSpec:
    doc = parse_yaml(text, source)
    problems = doc.problems()
    if not isinstance(doc.data, dict):
        problems.add(None, N_("the spec must be a mapping of keys such as title, format and start"))
        raise ValidationFailed(problems.items)
    return validate_spec(doc.data, template_dir, problems)


def _one_line(
    value: Any,
    path: str | tuple[Any, ...],
    problems: Problems,
    *,
    required: bool,
    max_len: int = MAX_TITLE,
    multiline: bool = False,
) -> str | None:
    path = (path,) if isinstance(path, str) else path
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(path, N_("is required"))
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        problems.add(path, N_("must be a text"))
        return None
    if not multiline and has_control(value):
        problems.add(path, N_("must be a single line without control characters"))
        return None
    if len(value) > max_len:
        problems.add(path, N_("is too long (%(length)s characters, at most %(max)s)"), length=len(value), max=max_len)
        return None
    return clean_line(value) if not multiline else value.strip()


def _local_datetime(value: Any, path: tuple[Any, ...], tz: ZoneInfo | None, problems: Problems) -> datetime | None:
    if isinstance(value, datetime):
        naive = value
    elif isinstance(value, date):
        naive = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        try:
            naive = datetime.fromisoformat(value.strip())
        except ValueError:
            problems.add(path, N_("%(value)r is not a date and time (expected e.g. 2025-11-22T12:00)"), value=value)
            return None
    else:
        problems.add(
            path, N_("is required") if value is None else N_("must be a date and time such as 2025-11-22T12:00")
        )
        return None
    if tz is None:
        return None
    if naive.tzinfo is not None:
        return naive.astimezone(tz)
    aware = naive.replace(tzinfo=tz)
    # a wall-clock time that does not exist (skipped by the switch to summer time) is a mistake
    if aware.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None) != naive:
        problems.add(
            path,
            N_("%(value)s does not exist in %(tz)s (clocks change then)"),
            value=naive.isoformat(),
            tz=tz.key,
        )
        return None
    return aware


def validate_spec(data: dict[str, Any], template_dir: Path, problems: Problems) -> EventSpec:
    formats = discover(template_dir)
    fmt: Format | None = None
    format_name = data.get("format")
    if format_name is None:
        problems.add("format", N_("is required (one of %(choices)s)"), choices=", ".join(formats))
    elif not isinstance(format_name, str) or format_name not in formats:
        problems.add(
            "format",
            N_("unknown format %(value)r (known: %(choices)s)"),
            value=format_name,
            choices=", ".join(formats),
        )
    else:
        fmt = formats[format_name]

    allowed = set(FIXED_KEYS) | (set(fmt.spec_fields) if fmt else set())
    for key in data:
        if key not in allowed and fmt is not None:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            if close:
                problems.add(str(key), N_("unknown key; did you mean %(suggestion)r?"), suggestion=close[0])
            else:
                problems.add(str(key), N_("unknown key for the format %(format)s"), format=fmt.name)

    title = _one_line(data.get("title"), "title", problems, required=True)

    tz: ZoneInfo | None = None
    tz_name = data.get("timezone", "Europe/Berlin")
    try:
        if not isinstance(tz_name, str) or not tz_name or "/" not in tz_name and tz_name != "UTC":
            raise ZoneInfoNotFoundError(tz_name)
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add("timezone", N_("unknown time zone %(value)r (expected e.g. Europe/Berlin)"), value=tz_name)

    start = _local_datetime(data.get("start"), ("start",), tz, problems)
    end: datetime | None = None
    if data.get("end") is not None:
        end = _local_datetime(data.get("end"), ("end",), tz, problems)
        if start and end and end <= start:
            problems.add("end", N_("must be after the start (%(start)s)"), start=start.strftime("%Y-%m-%d %H:%M"))
    elif start and fmt:
        end = start + fmt.duration

    language = data.get("language", "de")
    if language not in LANGUAGES:
        problems.add("language", N_("must be one of %(choices)s"), choices=", ".join(LANGUAGES))

    venue = None
    raw_venue = data.get("venue")
    if raw_venue is not None:
        if not isinstance(raw_venue, dict):
            problems.add("venue", N_("must be a mapping with name, address and accessibility"))
        else:
            for key in raw_venue:
                if key not in ("name", "address", "accessibility", "directions"):
                    problems.add(("venue", key), N_("unknown key (known: name, address, accessibility, directions)"))
            name = _one_line(raw_venue.get("name"), ("venue", "name"), problems, required=True)
            address = _one_line(raw_venue.get("address"), ("venue", "address"), problems, required=False, max_len=300)
            access = _one_line(
                raw_venue.get("accessibility"),
                ("venue", "accessibility"),
                problems,
                required=False,
                max_len=MAX_TEXT,
                multiline=True,
            )
            directions = _one_line(
                raw_venue.get("directions"),
                ("venue", "directions"),
                problems,
                required=False,
                max_len=MAX_TEXT,
                multiline=True,
            )
            if name:
                venue = Venue(name, address or "", access or "", directions or "")

    online_url = _one_line(data.get("online_url"), "online_url", problems, required=False, max_len=2000)
    if online_url and not re.match(r"^https://[^\s/$.?#][^\s]*$", online_url):
        problems.add("online_url", N_("must be an https:// link"))
        online_url = None
    if raw_venue is None and data.get("online_url") is None:
        problems.add("venue", N_("give a venue, an online_url, or both (hybrid)"))

    organiser = None
    raw_org = data.get("organiser")
    if not isinstance(raw_org, dict):
        problems.add("organiser", N_("is required, with name and email"))
    else:
        org_name = _one_line(raw_org.get("name"), ("organiser", "name"), problems, required=True)
        org_email = _one_line(raw_org.get("email"), ("organiser", "email"), problems, required=True)
        if org_email:
            try:
                org_email = validate_email(org_email, check_deliverability=False).normalized
            except EmailNotValidError as exc:
                problems.add(
                    ("organiser", "email"),
                    N_("%(value)r is not a valid email address: %(reason)s"),
                    value=org_email,
                    reason=str(exc),
                )
                org_email = None
        if org_name and org_email:
            organiser = Organiser(org_name, org_email)

    capacity = data.get("capacity")
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
        problems.add("capacity", N_("must be a whole number of at least 1, or null for no limit"))
        capacity = None

    deadline = None
    if data.get("registration_deadline") is not None:
        deadline = _local_datetime(data.get("registration_deadline"), ("registration_deadline",), tz, problems)
        if (
            deadline
            and isinstance(data.get("registration_deadline"), date)
            and not isinstance(data.get("registration_deadline"), datetime)
        ):
            deadline = deadline.replace(hour=23, minute=59)
        if deadline and end and deadline > end:
            problems.add("registration_deadline", N_("must not be after the end of the event"))

    funding = _one_line(data.get("funding"), "funding", problems, required=False, max_len=1000, multiline=True)
    description = _one_line(
        data.get("description"), "description", problems, required=False, max_len=MAX_TEXT, multiline=True
    )

    agenda = _agenda(data.get("agenda"), start, end, tz, problems)
    if not agenda and fmt and start and tz and data.get("agenda") is None:
        lang = language if language in LANGUAGES else "de"
        agenda = [AgendaItem(start + item.offset, item.title.get(lang)) for item in fmt.agenda]

    slug = data.get("slug")
    if slug is not None:
        if not isinstance(slug, str) or not SLUG_RE.match(slug) or len(slug) > 100:
            problems.add(
                "slug", N_("use only lower-case letters, digits and hyphens (e.g. fachvernetzung-2025-gifhorn)")
            )
    elif fmt and start:
        # the contract's shape: <format>-<year>-<town>; a second meeting there that year sets its own slug
        place = town_of(venue.address) if venue and venue.address else (venue.name if venue else "online")
        slug = slugify(f"{fmt.name}-{start.year}-{place}")

    extra = {k: v for k, v in data.items() if fmt and k in fmt.spec_fields}
    if fmt is not None:
        # keys whose meaning lives in their own modules (which import this one): each checks its own
        from eventkit.model import multiday
        from eventkit.privacy import retention
        from eventkit.sessions import sessions
        from eventkit.survey import survey

        survey.check_spec(data, fmt, problems)  # the event's changes to the survey
        retention.check_spec(data, problems)  # retention periods, privacy notice version
        sessions.check_spec(data, fmt, problems)  # session grid, working-group places
        multiday.check_spec(data, start, end, problems)  # registration per day of a multi-day event
    problems.raise_if_any()
    assert title and fmt and start and end and tz and organiser and isinstance(slug, str)
    return EventSpec(
        slug=slug,
        title=title,
        format=fmt.name,
        start=start,
        end=end,
        timezone=tz.key,
        language=language,
        organiser=organiser,
        venue=venue,
        online_url=online_url,
        capacity=capacity,
        registration_deadline=deadline,
        funding=funding,
        description=description,
        agenda=tuple(agenda),
        extra=extra,
    )


def _parse_clock(value: Any) -> time | None:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 12:00 as the sexagesimal number 720
        return time(value // 60, value % 60) if 0 <= value < 24 * 60 else None
    if isinstance(value, str):
        match = re.match(r"^\s*(\d{1,2})[:.](\d{2})\s*(?:Uhr)?\s*$", value)
        if match and int(match.group(1)) < 24 and int(match.group(2)) < 60:
            return time(int(match.group(1)), int(match.group(2)))
    return None


def _agenda(
    raw: Any, start: datetime | None, end: datetime | None, tz: ZoneInfo | None, problems: Problems
) -> list[AgendaItem]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add("agenda", N_("must be a list of items with time and title"))
        return []
    items = []
    for i, entry in enumerate(raw):
        path = ("agenda", i)
        if not isinstance(entry, dict):
            problems.add(path, N_("must be a mapping with time and title"))
            continue
        title = _one_line(entry.get("title"), (*path, "title"), problems, required=True)
        if not title:
            continue
        clock = _parse_clock(entry.get("time"))
        if clock is None:
            problems.add(
                (*path, "time"),
                N_('%(value)r is not a time of day (expected e.g. "12:00")'),
                value=entry.get("time"),
            )
            continue
        day = entry.get("day", 1)
        if isinstance(day, bool) or not isinstance(day, int) or day < 1:
            problems.add((*path, "day"), N_("must be the day of the event, counting from 1"))
            continue
        if start is None or tz is None or end is None:
            continue
        when = datetime.combine(start.date() + timedelta(days=day - 1), clock, tzinfo=tz)
        item_end = None
        if entry.get("until") is not None:
            until = _parse_clock(entry.get("until"))
            if until is None:
                problems.add(
                    (*path, "until"),
                    N_('%(value)r is not a time of day (expected e.g. "12:00")'),
                    value=entry.get("until"),
                )
            else:
                item_end = datetime.combine(when.date(), until, tzinfo=tz)
        if when < start - timedelta(minutes=1) or when > end:
            problems.add(
                (*path, "time"),
                N_("%(value)s lies outside the event (%(start)s to %(end)s)"),
                value=when.strftime("%Y-%m-%d %H:%M"),
                start=start.strftime("%Y-%m-%d %H:%M"),
                end=end.strftime("%Y-%m-%d %H:%M"),
            )
            continue
        items.append(AgendaItem(when, title, item_end))
    return items

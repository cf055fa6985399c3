"""The event spec: what an organiser writes (a YAML file, the console's form, the Prefect run form), checked by
one pydantic model, EventSpecModel, into the EventSpec that the rest of eventkit reads."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from pydantic import ConfigDict, ValidationInfo
from pydantic_core import PydanticCustomError

from eventkit.core.errors import N_
from eventkit.core.i18n import LANGUAGES
from eventkit.core.validation import Problems, read_text_file
from eventkit.core.yamlfile import YamlText, parse_yaml
from eventkit.model import sections
from eventkit.model.agenda import AgendaEntry, AgendaItem, agenda_of, planned
from eventkit.model.base import (
    UNSET,
    Check,
    Form,
    Loc,
    Suggesting,
    context_of,
    given,
    keep,
    problem,
    raw,
    validated,
)
from eventkit.model.formats import Format, discover
from eventkit.model.grid import SessionGrid
from eventkit.model.sections import format_of, section
from eventkit.model.slug import is_slug
from eventkit.model.values import MAX_TITLE, local_datetime, spec_text

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
MAX_TEXT = 5000


def _text(max_len: int = MAX_TITLE, *, required: bool = False, multiline: bool = False, empty: Any = "") -> Any:
    """The check of a text field: `empty` for a left-out or empty one."""

    def check(value: Any) -> Any:
        text = spec_text(value, required=required, max_len=max_len, multiline=multiline)
        return empty if text is None else text

    return check


class Venue(Form):
    """Where the event takes place."""

    not_a_mapping = N_("must be a mapping with name, address and accessibility")
    must_have = ("name",)

    name: Annotated[str, Check(_text(required=True), str)] = given(examples=["Rathaus Gifhorn"])
    address: Annotated[str, Check(_text(300), str)] = given(examples=["Marktplatz 1, 38518 Gifhorn"])
    accessibility: Annotated[str, Check(_text(MAX_TEXT, multiline=True), str)] = given(examples=["stufenlos"])
    directions: Annotated[str, Check(_text(MAX_TEXT, multiline=True), str)] = given()

    @classmethod
    def unknown_key(
        cls, key: str, known: Collection[str], data: Mapping[str, Any], info: ValidationInfo
    ) -> PydanticCustomError:
        return problem(N_("unknown key (known: name, address, accessibility, directions)"))

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Venue:
        """A venue as it was stored (checked when it was written)."""
        return cls.model_construct(**{"address": "", "accessibility": "", "directions": "", **data})


def _email(value: Any) -> str:
    address = spec_text(value, required=True)
    assert address is not None
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        message = N_("%(value)r is not a valid email address: %(reason)s")
        raise problem(message, value=address, reason=str(exc)) from None


class Organiser(Form):
    """Who organises the event: named in every email, and the address replies go to."""

    must_have = ("name", "email")

    name: Annotated[str, Check(_text(required=True), str)] = given(examples=["Queeres Netzwerk Gifhorn e.V."])
    email: Annotated[str, Check(_email, str)] = given(examples=["info@example.org"])

    @classmethod
    def known_keys(cls, data: Mapping[str, Any], info: ValidationInfo) -> None:
        return None


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
            "venue": None if self.venue is None else self.venue.model_dump(),
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
            organiser=Organiser.model_construct(**data["organiser"]),
            venue=Venue.from_data(data["venue"]) if data.get("venue") else None,
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


# --- the model -----------------------------------------------------------------------------------------


def _zone(info: ValidationInfo) -> ZoneInfo | None:
    name = info.data.get("timezone")
    return ZoneInfo(name) if name else None


def _format(value: Any, info: ValidationInfo) -> str:
    formats: Mapping[str, Format] = context_of(info).get("formats") or {}
    if raw(value) is None:
        raise problem(N_("is required (one of %(choices)s)"), choices=", ".join(formats))
    if not isinstance(value, str) or value not in formats:
        raise problem(N_("unknown format %(value)r (known: %(choices)s)"), value=value, choices=", ".join(formats))
    return value


def _timezone(value: Any) -> str:
    name = "Europe/Berlin" if value is UNSET else value
    try:
        if not isinstance(name, str) or not name or "/" not in name and name != "UTC":
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name).key
    except (ZoneInfoNotFoundError, ValueError):
        raise problem(N_("unknown time zone %(value)r (expected e.g. Europe/Berlin)"), value=name) from None


def _start(value: Any, info: ValidationInfo) -> datetime | None:
    return local_datetime(value, _zone(info))


def _end(value: Any, info: ValidationInfo) -> datetime | None:
    start, fmt = info.data.get("start"), format_of(info)
    if raw(value) is None:
        return start + fmt.duration if start and fmt else None
    end = local_datetime(value, _zone(info))
    if start and end and end <= start:
        keep(info, problem(N_("must be after the start (%(start)s)"), start=start.strftime("%Y-%m-%d %H:%M")))
    return end


def _language(value: Any) -> str:
    language = "de" if value is UNSET else value
    if language not in LANGUAGES:
        raise problem(N_("must be one of %(choices)s"), choices=", ".join(LANGUAGES))
    return str(language)


def _venue(value: Any) -> Venue | None:
    return None if raw(value) is None else Venue.model_validate(value)


def _online_url(value: Any) -> str | None:
    url = spec_text(value, required=False, max_len=2000)
    if url and not re.match(r"^https://[^\s/$.?#][^\s]*$", url):
        raise problem(N_("must be an https:// link"))
    return url


def _organiser(value: Any) -> Organiser:
    if not isinstance(value, Mapping):
        raise problem(N_("is required, with name and email"))
    return Organiser.model_validate(value)


def _capacity(value: Any) -> int | None:
    capacity = raw(value)
    if capacity is not None and (isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1):
        raise problem(N_("must be a whole number of at least 1, or null for no limit"))
    return capacity


def _deadline(value: Any, info: ValidationInfo) -> datetime | None:
    if raw(value) is None:
        return None
    deadline = local_datetime(value, _zone(info))
    if deadline and isinstance(value, date) and not isinstance(value, datetime):
        deadline = deadline.replace(hour=23, minute=59)
    end = info.data.get("end")
    if deadline and end and deadline > end:
        raise problem(N_("must not be after the end of the event"))
    return deadline


def _agenda(value: Any, info: ValidationInfo) -> tuple[AgendaItem, ...]:
    start, end, fmt = info.data.get("start"), info.data.get("end"), format_of(info)
    if raw(value) is None:
        return planned(fmt, start, info.data.get("language", "de")) if _zone(info) else ()
    return agenda_of(value, start, end, _zone(info))


def _slug(value: Any, info: ValidationInfo) -> str | None:
    slug, fmt, start = raw(value), format_of(info), info.data.get("start")
    if slug is not None:
        if not is_slug(slug):
            raise problem(N_("use only lower-case letters, digits and hyphens (e.g. fachvernetzung-2025-gifhorn)"))
        return slug
    if not (fmt and start):
        return None
    # the contract's shape: <format>-<year>-<town>; a second meeting there that year sets its own slug
    venue = info.data.get("venue")
    place = town_of(venue.address) if venue and venue.address else (venue.name if venue else "online")
    return slugify(f"{fmt.name}-{start.year}-{place}")


class EventSpecModel(Suggesting):
    """An event as its organiser describes it; `format` names a folder under templates/formats, whose
    format.yaml adds its own keys (spec_fields). Validate with a context `formats` (model.formats.discover)."""

    first = ("format",)
    must_have = ("title", "format", "start", "organiser")
    model_config = ConfigDict(extra="allow")

    format: Annotated[str, Check(_format, str)] = given(description="a folder name under templates/formats/")
    title: Annotated[str, Check(_text(required=True), str)] = given(examples=["Fachvernetzung 2025"])
    timezone: Annotated[str, Check(_timezone, str)] = given(description="default Europe/Berlin")
    start: Annotated[datetime, Check(_start, datetime)] = given(description="local time in `timezone`")
    end: Annotated[datetime, Check(_end, datetime | None)] = given(description="default: the format's duration")
    language: Annotated[str, Check(_language, Literal["de", "en"])] = given(description="default de")
    venue: Annotated[Venue | None, Check(_venue, Venue | None)] = given()
    online_url: Annotated[str | None, Check(_online_url, str | None)] = given(
        description="a meeting link (https://), for online and hybrid events"
    )
    organiser: Annotated[Organiser, Check(_organiser, Organiser)] = given()
    capacity: Annotated[int | None, Check(_capacity, int | None)] = given(description="null: no limit")
    registration_deadline: Annotated[datetime | None, Check(_deadline, datetime | None)] = given()
    funding: Annotated[str | None, Check(_text(1000, multiline=True, empty=None), str | None)] = given()
    description: Annotated[str | None, Check(_text(MAX_TEXT, multiline=True, empty=None), str | None)] = given()
    agenda: Annotated[tuple[AgendaItem, ...], Check(_agenda, list[AgendaEntry] | None)] = given(
        description="default: the format's programme"
    )
    slug: Annotated[str, Check(_slug, str | None)] = given(description="default: <format>-<year>-<town>")
    survey: Annotated[Any, Check(section(sections.survey), list[dict[str, Any]] | None)] = given(
        description="changes and additions to the format's survey questions"
    )
    survey_audience: Annotated[
        Any, Check(section(sections.survey_audience), Literal["attended", "registered"] | None)
    ] = given()
    survey_min_group: Annotated[Any, Check(section(sections.survey_min_group), int | None)] = given()
    privacy_notice_version: Annotated[Any, Check(section(sections.notice_version), str | None)] = given()
    retention_months: Annotated[Any, Check(section(sections.whole_from(1, 120)), int | None)] = given()
    funder_retention_years: Annotated[Any, Check(section(sections.whole_from(1, 30)), int | None)] = given()
    working_groups: Annotated[Any, Check(sections.as_written, list[str] | None)] = given()
    rounds: Annotated[Any, Check(sections.as_written, int | None)] = given()
    tables: Annotated[Any, Check(sections.as_written, int | None)] = given()
    session_grid: Annotated[Any, Check(section(sections.session_grid, "session_grid"), SessionGrid | None)] = given()
    working_group_capacity: Annotated[
        Any, Check(section(sections.group_places, "working_group_capacity"), int | dict[str, int] | None)
    ] = given()
    registration_per_day: Annotated[Any, Check(section(sections.per_day), bool | None)] = given()
    series: Annotated[Any, Check(sections.as_written, dict[str, str] | None)] = given(description="set by eventkit")

    @classmethod
    def known_keys(cls, data: Mapping[str, Any], info: ValidationInfo) -> Collection[str] | None:
        formats: Mapping[str, Format] = context_of(info).get("formats") or {}
        name = data.get("format")
        fmt = formats.get(name) if isinstance(name, str) else None
        return None if fmt is None else (*FIXED_KEYS, *fmt.spec_fields)

    @classmethod
    def nothing_close(cls, key: str, known: Collection[str], data: Mapping[str, Any]) -> PydanticCustomError:
        return problem(N_("unknown key for the format %(format)s"), format=data.get("format"))

    @classmethod
    def across(cls, data: Mapping[str, Any], info: ValidationInfo) -> Iterable[tuple[str, Loc, PydanticCustomError]]:
        if data.get("venue") is None and data.get("online_url") is None:
            yield "online_url", ("venue",), problem(N_("give a venue, an online_url, or both (hybrid)"))
        formats: Mapping[str, Format] = context_of(info).get("formats") or {}
        months, years, fmt = data.get("retention_months"), data.get("funder_retention_years"), data.get("format")
        known = isinstance(fmt, str) and fmt in formats
        if known and isinstance(months, int) and isinstance(years, int) and months > years * 12:
            yield (
                "funder_retention_years",
                ("retention_months",),
                problem(N_("must not be longer than funder_retention_years")),
            )

    def to_spec(self, fmt: Format) -> EventSpec:
        """The event as eventkit reads it; `fmt` is the format it names."""
        assert self.start and self.end and self.slug
        extra = {key: value for key, value in self._written().items() if key in fmt.spec_fields}
        return EventSpec(
            slug=self.slug,
            title=self.title,
            format=self.format,
            start=self.start,
            end=self.end,
            timezone=self.timezone,
            language=self.language,
            organiser=self.organiser,
            venue=self.venue,
            online_url=self.online_url,
            capacity=self.capacity,
            registration_deadline=self.registration_deadline,
            funding=self.funding,
            description=self.description,
            agenda=self.agenda,
            extra=extra,
        )

    def _written(self) -> dict[str, Any]:
        """The keys the organiser wrote besides the fixed ones, as written."""
        own = {name: getattr(self, name) for name in type(self).model_fields if name not in FIXED_KEYS}
        return {**{k: v for k, v in own.items() if k in self.model_fields_set}, **(self.model_extra or {})}


def spec_from_data(data: Any, formats: Mapping[str, Format], problems: Problems) -> EventSpec:
    """`data` checked as an event spec; ValidationFailed names every problem (after those `problems` holds)."""
    model = validated(EventSpecModel, data, problems, formats=formats)
    return model.to_spec(formats[model.format])


def validate_spec(data: dict[str, Any], template_dir: Path, problems: Problems) -> EventSpec:
    return spec_from_data(data, discover(template_dir), problems)


def spec_from(doc: YamlText, template_dir: Path) -> EventSpec:
    problems = doc.problems()
    if not isinstance(doc.data, dict):
        problems.add(None, N_("the spec must be a mapping of keys such as title, format and start"))
        problems.raise_if_any()
    return validate_spec(doc.data, template_dir, problems)


def load_spec(path: Path, template_dir: Path) -> EventSpec:
    """Read and validate a spec file; raises ValidationFailed naming file, line, field and problem."""
    return spec_from(parse_yaml(read_text_file(path), str(path)), template_dir)


def parse_spec(text: str, template_dir: Path, source: str = "<spec>") -> EventSpec:
    return spec_from(parse_yaml(text, source), template_dir)

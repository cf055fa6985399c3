"""The recap input: what the organiser says about the event afterwards, the same for every format plus the
sections a format declares in its format.yaml (`recap:`), one pydantic model per format."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import ValidationError, ValidationInfo
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from eventkit.core.errors import N_
from eventkit.core.validation import has_control
from eventkit.model.base import (
    UNSET,
    Check,
    Form,
    Found,
    Suggesting,
    context_of,
    each,
    each_value,
    given,
    problem,
    raw,
)
from eventkit.model.formats import Format, RecapSection, discover
from eventkit.model.values import parse_clock

MAX_TEXT = 20_000
MAX_LINE = 300
MAX_ITEMS = 500
COMMON_KEYS = ("event", "summary", "agenda", "outcomes", "photos", "logos")
_SAFE_PART = re.compile(r"^[\w][\w.\- ]*$")


def text(value: Any, *, required: bool = False, one_line: bool = False) -> str:
    """Markdown (or, `one_line`, a name or title); "" when left empty."""
    if value is None or value is UNSET or (isinstance(value, str) and not value.strip()):
        if required:
            raise problem(N_("is required"))
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise problem(N_("must be a text"))
    limit = MAX_LINE if one_line else MAX_TEXT
    if one_line and has_control(value.replace("\n", " ")):
        raise problem(N_("must be a single line without control characters"))
    if has_control(value.replace("\n", " ").replace("\t", " ")):
        raise problem(N_("contains control characters"))
    if len(value) > limit:
        raise problem(N_("is too long (%(length)s characters, at most %(max)s)"), length=len(value), max=limit)
    return " ".join(value.split()) if one_line else value.strip()


def _markdown(value: Any) -> str:
    return text(value)


def _line(value: Any) -> str:
    return text(value, one_line=True)


def _required_line(value: Any) -> str:
    return text(value, required=True, one_line=True)


def _item_text(value: Any) -> str:
    return text(value, required=True)


def items(value: Any) -> list[Any]:
    """A list of at most MAX_ITEMS entries; nothing for a left-out key."""
    value = raw(value)
    if value is None:
        return []
    if isinstance(value, tuple):  # made by eventkit (a recap changed in code), not written
        return list(value)
    if not isinstance(value, list):
        raise problem(N_("must be a list"))
    if len(value) > MAX_ITEMS:
        raise problem(N_("has too many entries (%(length)s, at most %(max)s)"), length=len(value), max=MAX_ITEMS)
    return value


def _whole(value: Any, minimum: int = 1) -> int:
    value = raw(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise problem(N_("must be a whole number of at least %(min)s"), min=minimum)
    return value


def relative_file(value: Any) -> str:
    """A file named relative to the recap's folder: no absolute path, no URL, no way out of the folder."""
    if not isinstance(value, str) or not value.strip():
        raise problem(N_("must name a file next to the recap, e.g. photos/plenum.jpg"))
    parts = value.strip().replace("\\", "/").split("/")
    if value.startswith("/") or ":" in value or any(not _SAFE_PART.match(p) or p in (".", "..") for p in parts):
        raise problem(
            N_("%(value)r is not a file name inside the recap's folder (e.g. photos/plenum.jpg)"), value=value[:200]
        )
    return "/".join(parts)


class Entry(Form):
    """An entry of a list in the recap: a mapping with `entry_keys`, or a plain text that stands for the first."""

    entry_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def known_keys(cls, data: Mapping[str, Any], info: ValidationInfo) -> Collection[str]:
        return cls.entry_keys

    @classmethod
    def mapping_problem(cls, value: Any) -> PydanticCustomError:
        return problem(N_("must be a text or a mapping with %(keys)s"), keys=", ".join(cls.entry_keys))

    def to_data(self) -> dict[str, Any]:
        return {key: list(v) if isinstance(v := getattr(self, key), tuple) else v for key in self.entry_keys}


def _clock(value: Any) -> str:
    clock = parse_clock(raw(value))
    if clock is None:
        raise problem(N_('%(value)r is not a time of day (expected e.g. "12:00")'), value=raw(value))
    return clock.strftime("%H:%M")


def _day(value: Any) -> int:
    return _whole(1 if value is UNSET else value)


class AgendaEntry(Entry):
    """An item of the programme as it was held."""

    entry_keys = ("time", "title", "day", "notes")
    text_is = "title"
    must_have = ("time", "title")

    title: Annotated[str, Check(_required_line, str)] = given()
    time: Annotated[str, Check(_clock, str)] = given(description="Start, e.g. 12:00")
    day: Annotated[int, Check(_day, int)] = given(description="The day of the event, from 1")
    notes: Annotated[str, Check(_markdown, str)] = given(description="What happened (Markdown)")


def _usable(value: Any) -> bool:
    value = False if value is UNSET else value
    if not isinstance(value, bool):
        raise problem(N_("must be true or false"))
    return value


def _person(value: Any) -> str:
    email = text(value, required=True, one_line=True)
    if "@" not in email:
        raise problem(N_("must be the email address of a registered person"))
    return email.lower()


def _people(value: Any) -> tuple[str, ...]:
    found = Found()
    people = tuple(email for _, email in each_value(_person, items(value), found))
    found.raise_if_any()
    return people


class Photo(Entry):
    """A photo of the event; it is printed only when usable and everyone recognisable on it agreed."""

    entry_keys = ("file", "caption", "usable", "people")
    text_is = "file"
    must_have = ("file",)

    file: Annotated[str, Check(lambda v: relative_file(raw(v)), str)] = given(
        description="A file in the event's folder, e.g. photos/plenum.jpg"
    )
    caption: Annotated[str, Check(_line, str)] = given()
    usable: Annotated[bool, Check(_usable, bool)] = given(description="May be published")
    people: Annotated[tuple[str, ...], Check(_people, list[str])] = given(
        description="Email addresses of the people recognisable on it"
    )


class Organisation(Entry):
    entry_keys = ("name", "town", "note")
    text_is = "name"
    must_have = ("name",)

    name: Annotated[str, Check(_required_line, str)] = given()
    town: Annotated[str, Check(_line, str)] = given()
    note: Annotated[str, Check(_markdown, str)] = given()


class WorkingGroup(Entry):
    entry_keys = ("title", "results")
    text_is = "title"
    must_have = ("title",)

    title: Annotated[str, Check(_required_line, str)] = given()
    results: Annotated[str, Check(_markdown, str)] = given(description="Results (Markdown)")


class Session(Entry):
    """A session of the grid: its round and table (from 1), its title and host, the host's notes."""

    entry_keys = ("round", "table", "title", "host", "notes")
    text_is = "title"
    must_have = ("round", "table", "title")

    round: Annotated[int, Check(_whole, int)] = given()
    table: Annotated[int, Check(_whole, int)] = given()
    title: Annotated[str, Check(_required_line, str)] = given()
    host: Annotated[str, Check(_line, str)] = given()
    notes: Annotated[str, Check(_markdown, str)] = given()


def _entries(model: type[Entry]) -> Any:
    def check(value: Any) -> tuple[Entry, ...]:
        found = Found()
        entries = tuple(entry for _, entry in each(model, items(value), found))
        found.raise_if_any()
        return entries

    return check


def _logos(value: Any) -> tuple[str, ...]:
    found = Found()
    logos = tuple(file for _, file in each_value(relative_file, items(value), found))
    found.raise_if_any()
    return logos


def _lines(value: Any) -> tuple[str, ...]:
    found = Found()
    lines = tuple(line for _, line in each_value(_item_text, items(value), found))
    found.raise_if_any()
    return lines


def _sessions(value: Any) -> tuple[Session, ...]:
    """The sessions; two in one round at one table are a problem (named at the second)."""
    found, sessions, seen = Found(), list[Session](), dict[tuple[int, int], int]()
    for i, item in enumerate(items(value)):
        place = None
        try:
            session = Session.model_validate(item)
            place = (session.round, session.table)
        except ValidationError as exc:
            found.take(exc, (i,))
            failed = {str(e["loc"][0]) if e["loc"] else "" for e in exc.errors()}
            if isinstance(item, Mapping) and not failed & {"", "round", "table", "title"}:
                place = (item["round"], item["table"])
            session = None
        if place is None:
            continue
        if place in seen:
            found.add(
                (i,),
                N_("round %(round)s, table %(table)s is taken by sessions[%(other)s] already"),
                round=place[0],
                table=place[1],
                other=seen[place],
            )
            continue
        seen[place] = i
        if session is not None:
            sessions.append(session)
    found.raise_if_any()
    return tuple(sessions)


def _date_text(value: Any) -> str:
    """The next meeting: a date (and time) as YAML reads it, or any text."""
    value = raw(value)
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M")
    elif value is not None and not isinstance(value, str) and hasattr(value, "isoformat"):
        value = value.isoformat()
    return text(value)


# what each kind of section of format.yaml holds: (the value, its check, what the JSON Schema shows)
KINDS: dict[str, tuple[Any, Any, Any]] = {
    "text": (str, _markdown, str),
    "list": (tuple[str, ...], _lines, list[str]),
    "organisations": (tuple[Organisation, ...], _entries(Organisation), list[Organisation | str]),
    "groups": (tuple[WorkingGroup, ...], _entries(WorkingGroup), list[WorkingGroup | str]),
    "sessions": (tuple[Session, ...], _sessions, list[Session]),
    "date": (str, _date_text, str),
}


def _event(value: Any, info: ValidationInfo) -> None:
    slug = context_of(info).get("slug")
    if raw(value) is not None and slug is not None and value != slug:
        raise problem(N_("this recap is for %(value)r, not for %(slug)r"), value=value, slug=slug)


class Recap(Suggesting):
    """The outcomes of the meeting; texts are Markdown. Leave a field empty to leave its section out."""

    not_a_mapping = N_("the recap must be a mapping of keys such as summary, agenda and outcomes")
    # the format whose own sections a subclass has, and the sections other formats have
    format_name: ClassVar[str] = ""
    sections: ClassVar[tuple[RecapSection, ...]] = ()
    others: ClassVar[frozenset[str]] = frozenset()

    event: SkipJsonSchema[Annotated[None, Check(_event, str | None)]] = given(exclude=True)
    summary: Annotated[str, Check(_markdown, str)] = given(
        description="Overview: what the meeting was and who came (Markdown)"
    )
    agenda: Annotated[tuple[AgendaEntry, ...], Check(_entries(AgendaEntry), list[AgendaEntry | str])] = given(
        description="The programme as held; empty: as planned"
    )
    outcomes: Annotated[str, Check(_markdown, str)] = given(description="Results (Markdown)")
    photos: Annotated[tuple[Photo, ...], Check(_entries(Photo), list[Photo | str])] = given()
    logos: Annotated[tuple[str, ...], Check(_logos, list[str])] = given(description="Logo files in the event's folder")

    @classmethod
    def unknown_key(
        cls, key: str, known: Collection[str], data: Mapping[str, Any], info: ValidationInfo
    ) -> PydanticCustomError:
        if key in cls.others:
            return problem(N_("is not part of a recap of the format %(format)s"), format=cls.format_name)
        return super().unknown_key(key, known, data, info)

    @classmethod
    def nothing_close(cls, key: str, known: Collection[str], data: Mapping[str, Any]) -> PydanticCustomError:
        return problem(N_("unknown key for the format %(format)s"), format=cls.format_name)

    def section(self, name: str) -> Any:
        """A section of the format by its name (empty for a section this recap does not have)."""
        return getattr(self, name, ())

    def changed(self, model: type[Recap] | None = None, **changes: Any) -> Recap:
        """This recap with `changes`, as a recap of `model` (the format's, to add its own sections)."""
        model = model or type(self)
        kept = {name: getattr(self, name) for name in type(self).model_fields if name != "event"}
        return model.model_validate({**kept, **changes})

    def __reduce__(self) -> tuple[Any, ...]:
        # a format's model is made at run time: pickled, a recap names the format it was made for
        return _rebuild, (self.format_name, self.sections, self.others, self.to_data())

    def to_data(self) -> dict[str, Any]:
        """What the organiser said, without the empty sections, as plain data (kept as the event's recap.yaml)."""
        data = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "event" or value in ("", (), None):
                continue
            if isinstance(value, tuple):
                value = [v.to_data() if isinstance(v, Entry) else v for v in value]
            data[name] = value
        return data


_MODELS: dict[tuple[Any, ...], type[Recap]] = {}


def _model(name: str, sections: tuple[RecapSection, ...], others: frozenset[str]) -> type[Recap]:
    """The model of a format's recap, made once per format (its name, its sections' keys, kinds and hints)."""
    key = (name, tuple((s.name, s.kind, s.description) for s in sections), others)
    if key not in _MODELS:
        _MODELS[key] = _made(name, sections, others)
    return _MODELS[key]


def _made(name: str, sections: tuple[RecapSection, ...], others: frozenset[str]) -> type[Recap]:
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {"format_name": name, "sections": sections, "others": others}
    for section in sections:
        value, check, schema = KINDS[section.kind]
        annotations[section.name] = Annotated[value, Check(check, schema)]
        namespace[section.name] = given(description=section.description or None)
    title = "".join(part.title() for part in re.split(r"[^A-Za-z0-9]+", name) if part)
    return type(f"{title}Recap", (Recap,), {"__annotations__": annotations, "__module__": __name__, **namespace})


def grid_section(fmt: Format) -> str | None:
    """The key of the format's session grid in its recap (kind sessions), if it has one."""
    return next((s.name for s in fmt.recap if s.kind == "sessions"), None)


def _rebuild(name: str, sections: tuple[RecapSection, ...], others: frozenset[str], data: Any) -> Recap:
    return (_model(name, sections, others) if sections else Recap).model_validate(data)


def recap_model(fmt: Format, formats: Iterable[Format] | None = None) -> type[Recap]:
    """The recap input of `fmt`: the common fields and the sections of its format.yaml. A key of another
    format's recap (of `formats`, by default those next to it) is named as such."""
    siblings = discover(fmt.path.parent.parent).values() if formats is None else formats
    others = frozenset(s.name for f in siblings for s in f.recap) - {s.name for s in fmt.recap}
    return _model(fmt.name, fmt.recap, others)

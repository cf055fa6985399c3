"""The recap after an event: the organiser's input checked, figures and consent from the store, the PDF, the thanks."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from eventkit.core.files import event_dir, write_atomic
from eventkit.core.i18n import LANGUAGES
from eventkit.core.settings import Settings
from eventkit.core.tokens import signed_token, token_subject, verify_signed
from eventkit.core.validation import N_, Problems, read_text_file
from eventkit.core.yamlfile import parse_yaml
from eventkit.db.store import Event, OutboxMessage, Person, Registration
from eventkit.documents.pdf import SafeFetcher, print_environment, render_document
from eventkit.door import checkins
from eventkit.events.events import EventNotFound, event_view, find_event, format_for
from eventkit.mail import outbox
from eventkit.mail.compose import Recipient, message_id
from eventkit.mail.mime import Attachment, Message, ascii_address
from eventkit.model.base import validated
from eventkit.model.formats import Format
from eventkit.model.recap import AgendaEntry, Photo, Recap, Session, grid_section, recap_model
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime
from eventkit.sessions.notes import recap_sessions
from eventkit.survey import evaluation

RECAP_FILE = "recap.yaml"
THANKS_KIND = "recap-thanks"
# a recap up to this size goes with the email; a larger one is a personal link to the web app
ATTACH_MAX_BYTES = 2 * 1024 * 1024
# a recap of more pages than this gets a table of contents
TOC_MIN_PAGES = 5
MAX_TEXT = 20_000
MAX_LINE = 300
MAX_ITEMS = 500
PHOTO_TYPES = {"JPEG", "PNG", "WEBP", "GIF"}
MAX_PHOTO_BYTES = 30 * 1024 * 1024
# photos are scaled to this many pixels on their long side: sharp in print, a PDF small enough to send
PHOTO_MAX_PX = 1600


def recap_path(settings: Settings, slug: str) -> Path:
    return event_dir(settings, slug) / f"recap-{slug}.pdf"


# ---------------------------------------------------------------------------------------------- the input


def validate(
    data: Any,
    fmt: Format,
    *,
    source: str = "<recap>",
    lines: Mapping[tuple[Any, ...], int] | None = None,
    slug: str | None = None,
) -> Recap:
    """The recap input (parsed YAML or a form's data) checked for the format; ValidationFailed names
    every field that is wrong and why. Photo files are checked by load_recap/store_recap."""
    return validated(recap_model(fmt), data, Problems(source, lines or {}), slug=slug)


def parse_recap(text: str, fmt: Format, *, source: str = "<recap>", slug: str | None = None) -> Recap:
    doc = parse_yaml(text, source)
    return validate(doc.data, fmt, source=source, lines=doc.lines, slug=slug)


def _check_files(recap: Recap, base: Path, source: str) -> None:
    """Every photo and logo exists under `base` and is an image Pillow can read."""
    problems = Problems(source)
    for i, photo in enumerate(recap.photos):
        _check_image(base, photo.file, ("photos", i, "file"), problems)
    for i, logo in enumerate(recap.logos):
        _check_image(base, logo, ("logos", i), problems)
    problems.raise_if_any()


def _check_image(base: Path, name: str, path: tuple[Any, ...], problems: Problems) -> None:
    file = (base / name).resolve()
    if not file.is_relative_to(base.resolve()) or not file.is_file():
        problems.add(path, N_("file %(value)s not found next to the recap"), value=name)
        return
    if file.stat().st_size > MAX_PHOTO_BYTES:
        problems.add(path, N_("file %(value)s is larger than 30 MB"), value=name)
        return
    try:
        with Image.open(file) as img:
            kind = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        problems.add(path, N_("%(value)s is not an image eventkit can read (JPEG, PNG, WebP or GIF)"), value=name)
        return
    if kind not in PHOTO_TYPES:
        problems.add(path, N_("%(value)s is not an image eventkit can read (JPEG, PNG, WebP or GIF)"), value=name)


def load_recap(path: Path, fmt: Format, *, slug: str | None = None) -> Recap:
    """Read and check a recap file and the photos and logos it names (relative to its folder)."""
    source = str(path)
    text = read_text_file(path)
    recap = parse_recap(text, fmt, source=source, slug=slug)
    _check_files(recap, path.parent, source)
    return recap


def event_format(rt: Runtime, slug: str) -> Format:
    """The format of the event, whose format.yaml gives the recap's own sections."""
    with rt.store.session() as session:
        name = find_event(session, slug).format
    return format_for(rt.settings, name)


def store_recap(rt: Runtime, slug: str, recap: Recap, source_dir: Path | None = None) -> Path:
    """Keep the recap input in the event's folder (photos scaled for print, logos copied), so that later
    runs find it and the PDF reads files from that folder only. Written as a whole or not at all."""
    folder = event_dir(rt.settings, slug)
    folder.mkdir(parents=True, exist_ok=True)
    base = source_dir or folder
    if source_dir is not None:
        _check_files(recap, source_dir, str(source_dir))
    photos: list[Photo] = []
    logos: list[str] = []
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        for i, photo in enumerate(recap.photos):
            name = f"photos/{i + 1:02d}-{Path(photo.file).stem[:60]}.jpg"
            _scaled_copy(base / photo.file, staging / name)
            photos.append(Photo(file=name, caption=photo.caption, usable=photo.usable, people=photo.people))
        for i, logo in enumerate(recap.logos):
            name = f"logos/{i + 1:02d}-{Path(logo).name[-60:]}"
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(base / logo, staging / name)
            logos.append(name)
        for sub in ("photos", "logos"):
            target = folder / sub
            if (staging / sub).exists() or target.exists():
                old = folder / f".old-{sub}"
                shutil.rmtree(old, ignore_errors=True)
                if target.exists():
                    target.rename(old)
                if (staging / sub).exists():
                    (staging / sub).rename(target)
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    kept = recap.changed(photos=tuple(photos), logos=tuple(logos))
    data = {"event": slug, **_plain(kept.to_data())}
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    return write_atomic(folder / RECAP_FILE, text.encode("utf-8"))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _scaled_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as original:
        original.draft("RGB", (PHOTO_MAX_PX, PHOTO_MAX_PX))  # JPEG: decode at a reduced size, much faster
        img = ImageOps.exif_transpose(original)
        img.thumbnail((PHOTO_MAX_PX, PHOTO_MAX_PX))
        img.convert("RGB").save(target, "JPEG", quality=82, optimize=True)


def stored_recap(rt: Runtime, slug: str) -> Recap | None:
    """The recap input kept in the event's folder, if the organiser has given one."""
    path = event_dir(rt.settings, slug) / RECAP_FILE
    if not path.is_file():
        return None
    return load_recap(path, event_format(rt, slug), slug=slug)


def take_input(rt: Runtime, slug: str, path: Path) -> Recap:
    """A recap file from the organiser: checked, then kept (with its photos) in the event's folder."""
    recap = load_recap(path, event_format(rt, slug), slug=slug)
    store_recap(rt, slug, recap, path.parent)
    stored = stored_recap(rt, slug)
    assert stored is not None
    return stored


def take_data(rt: Runtime, slug: str, data: dict[str, Any], *, source: str = "form") -> Recap:
    """A recap from the Prefect UI form (no photos can be uploaded there: photos named in it must be in the
    event's folder already)."""
    recap = validate(data, event_format(rt, slug), source=source, slug=slug)
    folder = event_dir(rt.settings, slug)
    _check_files(recap, folder, source)
    if recap.photos or recap.logos:
        staging = Path(tempfile.mkdtemp(prefix=".form-", dir=folder))
        try:
            for name in (*(p.file for p in recap.photos), *recap.logos):
                (staging / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(folder / name, staging / name)
            store_recap(rt, slug, recap, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        store_recap(rt, slug, recap, None)
    stored = stored_recap(rt, slug)
    assert stored is not None
    return stored


# ---------------------------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class Participant:
    registration_id: int
    person_id: int
    name: str
    email: str
    organisation: str
    language: str
    answers: dict[str, Any]
    checked_in_at: datetime | None
    token_nonce: str
    check_ins: dict[date, datetime] = field(default_factory=dict)  # day -> when (eventkit.door.checkins)


def participants(rt: Runtime, slug: str) -> tuple[Event, EventSpec, list[Participant]]:
    """The event and everyone who has a place (status registered), in order of name."""
    with rt.store.session() as session:
        event = find_event(session, slug)
        session.expunge(event)
        rows = session.execute(
            select(Registration, Person)
            .join(Person, Person.id == Registration.person_id)
            .where(Registration.event_id == event.id, Registration.status == "registered")
        ).all()
        marks = checkins.by_registration(session, event.id)
    people = [
        Participant(
            r.id,
            p.id,
            p.name,
            p.email.lower(),
            (p.organisation or "").strip(),
            p.language or "",
            dict(r.answers or {}),
            r.checked_in_at,
            r.token_nonce,
            marks.get(r.id, {}),
        )
        for r, p in rows
    ]
    people.sort(key=lambda x: (x.name.casefold(), x.registration_id))
    return event, EventSpec.from_data(event.spec), people


def has_town(settings: Settings, spec: EventSpec) -> bool:
    """Whether the format asks for a town at registration (the store keeps no address otherwise)."""
    return any(f.name == "town" for f in format_for(settings, spec.format).registration_fields)


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


@dataclass
class Figures:
    registered: int
    attended: int
    organisations: int
    towns: int | None  # None: the registration does not ask for a town
    listed: list[str]  # organisations of attendees who agreed to be listed
    checked_in: bool  # whether attendance was recorded at all
    per_day: list[tuple[date, int]] = field(default_factory=list)  # a multi-day event's attendance on each day


def figures(settings: Settings, spec: EventSpec, people: list[Participant]) -> Figures:
    attended = [p for p in people if p.checked_in_at is not None]
    orgs: dict[str, str] = {}
    for p in attended:
        if p.organisation:
            orgs.setdefault(_key(p.organisation), p.organisation)
    listed: dict[str, str] = {}
    for p in attended:
        if p.organisation and p.answers.get("list_organisation") is True:
            listed.setdefault(_key(p.organisation), p.organisation)
    towns = None
    if has_town(settings, spec):
        towns = len({_key(str(p.answers.get("town"))) for p in attended if p.answers.get("town")})
    return Figures(
        registered=len(people),
        attended=len(attended),
        organisations=len(orgs),
        towns=towns,
        listed=sorted(listed.values(), key=str.casefold),
        checked_in=bool(attended),
        per_day=[(day, sum(1 for p in attended if day in p.check_ins)) for day in spec.days] if spec.multi_day else [],
    )


@dataclass(frozen=True)
class PhotoDecision:
    photo: Photo
    used: bool
    reason: str = ""


def photo_decisions(recap: Recap, people: list[Participant]) -> list[PhotoDecision]:
    """A photo is used when the organiser marked it usable and every recognisable person on it is registered
    and agreed to photos (registration answer photo_consent)."""
    consent = {p.email for p in people if p.answers.get("photo_consent") is True}
    known = {p.email for p in people}
    out = []
    for photo in recap.photos:
        if not photo.usable:
            out.append(PhotoDecision(photo, False, "not marked usable by the organiser"))
            continue
        unknown = [e for e in photo.people if e not in known]
        refused = [e for e in photo.people if e in known and e not in consent]
        if unknown:
            out.append(PhotoDecision(photo, False, f"{len(unknown)} person(s) on it not registered: no consent"))
        elif refused:
            out.append(PhotoDecision(photo, False, f"{len(refused)} person(s) on it without photo consent"))
        else:
            out.append(PhotoDecision(photo, True))
    return out


# ---------------------------------------------------------------------------------------------- rendering


@dataclass
class RecapResult:
    path: Path
    pages: int
    size: int
    figures: Figures
    photos_used: int
    photos_left_out: list[tuple[str, str]]
    toc: bool
    refused_urls: list[str]


def _grid(sessions: tuple[Session, ...], spec: EventSpec) -> SimpleNamespace:
    rounds = max([s.round for s in sessions] + [int(spec.extra.get("rounds") or 0)] or [0])
    tables = max([s.table for s in sessions] + [int(spec.extra.get("tables") or 0)] or [0])
    cells = {(s.round, s.table): s for s in sessions}
    return SimpleNamespace(
        rounds=list(range(1, rounds + 1)),
        tables=list(range(1, tables + 1)),
        cell=lambda r, t: cells.get((r, t)),
    )


def recap_html(
    rt: Runtime,
    slug: str,
    recap: Recap,
    *,
    language: str | None = None,
    toc: bool = False,
    now: datetime | None = None,
) -> tuple[str, Figures, list[PhotoDecision], EventSpec]:
    event, spec, people = participants(rt, slug)
    fmt = format_for(rt.settings, spec.format)
    grid_key = grid_section(fmt)
    if grid_key is not None:
        # where the sessions were planned on the session board, the published plan with the hosts' notes is the
        # grid of the day (eventkit.sessions.notes); the input's own grid is for events that did not use it
        planned = tuple(Session(**entry) for entry in recap_sessions(rt, slug))
        recap = recap.changed(recap_model(fmt), **{grid_key: planned}) if planned else recap
    language = language if language in LANGUAGES else spec.language
    numbers = figures(rt.settings, spec, people)
    decisions = photo_decisions(recap, people)
    folder = event_dir(rt.settings, slug)
    env = print_environment(rt.settings, spec.format, language)
    # the format's own recap (templates/formats/<format>/recap/), else the shared one
    template = env.select_template(["recap/recap.html", "print/recap.html"])
    agenda = recap.agenda or tuple(
        AgendaEntry(time=a.start.strftime("%H:%M"), title=a.title, day=(a.start.date() - spec.start.date()).days + 1)
        for a in spec.agenda
    )
    photos = [
        SimpleNamespace(url=(folder / d.photo.file).resolve().as_uri(), caption=d.photo.caption)
        for d in decisions
        if d.used
    ]
    sections = [k for k in ("summary",) if recap.summary] + (["agenda"] if agenda else [])
    sections += [s.name for s in fmt.recap if recap.section(s.name)]
    sections += (["outcomes"] if recap.outcomes else []) + ["figures"]
    summary = _survey_summary(rt, slug, language)
    sections += ["survey"] if summary is not None else []
    sections += (["organisations"] if numbers.listed else []) + (["photos"] if photos else [])
    html = template.render(
        survey=summary,
        sections=sections,
        event=event_view(spec, fmt),
        event_status=event.status,
        format=SimpleNamespace(name=fmt.name, title=fmt.title.get(language)),
        recap=recap,
        format_sections=fmt.recap,
        section_titles={s.name: s.title.get(language) for s in fmt.recap if s.title},
        agenda=agenda,
        agenda_as_planned=not recap.agenda,
        figures=numbers,
        photos=photos,
        logos=[(folder / logo).resolve().as_uri() for logo in recap.logos],
        grid=_grid(recap.section(grid_key) if grid_key else (), spec),
        toc=toc,
        generated=(now or datetime.now(UTC)).astimezone(spec.start.tzinfo),
    )
    return html, numbers, decisions, spec


def _survey_summary(rt: Runtime, slug: str, language: str) -> SimpleNamespace | None:
    """The follow-up survey's figures, once it is evaluated (closed): a recap made after the evaluation
    includes them. No free text here; that stays in the evaluation PDF."""
    found = evaluation.evaluate(rt, slug, language=language)
    if found is None or not found[0].closed:
        return None
    result = found[0]
    questions = [
        SimpleNamespace(
            label=q.label,
            answered=q.answered,
            hidden=q.hidden,
            texts=q.texts,
            bars=q.bars,
            mean=q.mean,
            mean_text=evaluation.number(q.mean, language),
            median_text=evaluation.number(q.median, language),
        )
        for q in result.questions
    ]
    return SimpleNamespace(
        responses=result.responses,
        invited=result.invited,
        rate=evaluation.percent(result.response_rate, language),
        hidden=result.hidden,
        min_group=result.min_group,
        questions=questions,
    )


def render_recap(
    rt: Runtime,
    slug: str,
    recap: Recap | None = None,
    *,
    out: Path | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> RecapResult:
    """Render recap-<slug>.pdf into the event's folder (or `out`), from `recap` or the stored input."""
    recap = recap if recap is not None else stored_recap(rt, slug)
    if recap is None:
        raise LookupError(f"no recap input for {slug}: give a recap file or fill in the form")
    folder = event_dir(rt.settings, slug)
    folder.mkdir(parents=True, exist_ok=True)
    roots = [rt.settings.template_dir, folder]
    fetcher = SafeFetcher(roots)
    html, numbers, decisions, spec = recap_html(rt, slug, recap, language=language, now=now)
    document = render_document(html, base_dir=folder, allowed_roots=roots, fetcher=fetcher)
    toc = len(document.pages) > TOC_MIN_PAGES
    if toc:
        html, *_ = recap_html(rt, slug, recap, language=language, toc=True, now=now)
        document = render_document(html, base_dir=folder, allowed_roots=roots, fetcher=fetcher)
    data = document.write_pdf()
    target = write_atomic(out or recap_path(rt.settings, slug), data)
    return RecapResult(
        path=target,
        pages=len(document.pages),
        size=len(data),
        figures=numbers,
        photos_used=sum(d.used for d in decisions),
        photos_left_out=[(d.photo.file, d.reason) for d in decisions if not d.used],
        toc=toc,
        refused_urls=list(fetcher.refused),
    )


# ---------------------------------------------------------------------------------------------- thanks


def document_link(rt: Runtime, slug: str, registration_id: int, nonce: str) -> str:
    """The personal link to the recap on the web app (for a recap too large to attach)."""
    token = signed_token(rt.settings.secret_key, "recap", registration_id, nonce)
    return f"{rt.settings.base_url}/e/{slug}/recap.pdf?t={token}"


def document_for_token(rt: Runtime, slug: str, token: str) -> Path | None:
    """The recap PDF for a valid personal recap link of someone who attended; None for any other link."""
    subject = token_subject(token or "")
    if subject is None:
        return None
    with rt.store.session() as session:
        try:
            event = find_event(session, slug)
        except EventNotFound:
            return None
        registration = session.get(Registration, subject)
        if (
            registration is None
            or registration.event_id != event.id
            or registration.status != "registered"
            or registration.checked_in_at is None
            or not verify_signed(rt.settings.secret_key, "recap", token, registration.id, registration.token_nonce)
        ):
            return None
    path = recap_path(rt.settings, slug)
    return path if path.is_file() else None


def thanks_key(event: Event, person_id: int) -> str:
    # once per person and event: a corrected recap does not send everyone a second email
    return f"{event.id}:{person_id}:{THANKS_KIND}"


def enqueue_thanks(
    rt: Runtime,
    slug: str,
    *,
    pdf: Path | None = None,
    attach_max: int = ATTACH_MAX_BYTES,
    now: datetime | None = None,
    batch: int = 50,
) -> dict[str, int]:
    """Put a thank-you email into the outbox for every attendee (a place and checked in), once per person:
    the recap attached when it is at most `attach_max` bytes, else a personal link to it."""
    now = now or datetime.now(UTC)
    pdf = pdf or recap_path(rt.settings, slug)
    if not pdf.is_file():
        raise LookupError(f"no recap PDF for {slug} yet: render it first")
    data = pdf.read_bytes()
    attach = len(data) <= attach_max
    event, spec, people = participants(rt, slug)
    fmt = format_for(rt.settings, spec.format)
    attendees = [p for p in people if p.checked_in_at is not None]
    result = {"thanks": 0, "already": 0, "attached": int(attach), "not_attended": len(people) - len(attendees)}
    keys = {thanks_key(event, p.person_id): p for p in attendees}
    with rt.store.session() as session:
        existing = set(
            session.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.idempotency_key.in_(list(keys))))
        )
    todo = [(k, p) for k, p in keys.items() if k not in existing]
    result["already"] = len(keys) - len(todo)
    sender = ascii_address(rt.settings.mail_from)[0]
    shared: dict[str, dict[str, Any]] = {}
    filename = f"{_filename_word(spec.language)}-{slug}.pdf"
    for start in range(0, len(todo), batch):
        rows = []
        for key, p in todo[start : start + batch]:
            language = p.language if p.language in LANGUAGES else spec.language
            recipient = Recipient(p.name, p.email, p.organisation or None, language)
            context = {
                "event": event_view(spec, fmt),
                "format": SimpleNamespace(name=fmt.name, title=fmt.title.get(language)),
                "recipient": recipient,
                "recap": SimpleNamespace(
                    attached=attach,
                    link=None if attach else document_link(rt, slug, p.registration_id, p.token_nonce),
                    filename=filename,
                ),
            }
            rendered = rt.renderer.email(
                fmt.name, THANKS_KIND, language, context, shared=shared.setdefault(language, {})
            )
            msg_id = message_id(rt.settings)
            raw, utf8 = Message(
                sender=(spec.organiser.name, rt.settings.mail_from),
                to=(p.name, p.email),
                reply_to=(spec.organiser.name, spec.organiser.email),
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=msg_id,
                date=now,
                language=language,
                attachments=(Attachment(data, "application/pdf", filename),) if attach else (),
            ).build()
            rows.append(
                {
                    "idempotency_key": key,
                    "event_id": event.id,
                    "person_id": p.person_id,
                    "registration_id": p.registration_id,
                    "kind": THANKS_KIND,
                    "sender": sender,
                    "recipient": ascii_address(p.email)[0],
                    "message_id": msg_id,
                    "subject": rendered.subject,
                    "raw": raw,
                    "smtputf8": utf8,
                    "params": {"attached": attach},
                }
            )
        with rt.store.session() as session:
            outbox.enqueue(session, rows)
        result["thanks"] += len(rows)
    return result


def _filename_word(language: str) -> str:
    return "Bericht" if language == "de" else "recap"

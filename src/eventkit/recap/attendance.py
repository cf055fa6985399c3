"""The attendance list (Teilnehmendenliste) funders ask for: blank before the event, filled from check-ins after."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

from eventkit.core.files import event_dir, write_atomic
from eventkit.core.i18n import LANGUAGES
from eventkit.documents.pdf import SafeFetcher, print_environment, render_document
from eventkit.events.events import event_view, format_for
from eventkit.model.multiday import attends, per_day
from eventkit.recap.participants import Participant, has_town, participants
from eventkit.runtime import Runtime

# lines left empty at the end of each sheet, for people who come without registering
EMPTY_ROWS_BLANK = 10
EMPTY_ROWS_FILLED = 5


def attendance_path(rt: Runtime, slug: str, *, blank: bool = False) -> Path:
    name = f"attendance-{slug}-blank.pdf" if blank else f"attendance-{slug}.pdf"
    return event_dir(rt.settings, slug) / name


@dataclass
class AttendanceResult:
    path: Path
    pages: int
    names: int
    sheets: int


def attendance_html(rt: Runtime, slug: str, *, blank: bool, language: str | None = None) -> tuple[str, int, int]:
    """The list's HTML, the number of names on it and of sheets (one per day of the event)."""
    event, spec, people = participants(rt, slug)
    language = language if language in LANGUAGES else spec.language
    fmt = format_for(rt.settings, spec.format)
    town_known = has_town(rt.settings, spec)
    tz = spec.start.tzinfo

    def row(p: Participant, at: datetime | None) -> SimpleNamespace:
        return SimpleNamespace(
            name=p.name,
            organisation=p.organisation,
            town=str(p.answers.get("town") or "") if town_known else "",
            checked_in=at.astimezone(tz).strftime("%d.%m. %H:%M") if at else "",
        )

    if blank:
        # everyone with a place on every day's sheet, or those registered for the day (registration per day)
        sheets = [
            SimpleNamespace(
                day=day, rows=[row(p, None) for p in people if not per_day(spec) or attends(p.answers, day)]
            )
            for day in spec.days
        ]
        names = len(people)
    else:
        # each day's sheet lists those checked in on that day, with the time of that day's check-in
        sheets = [
            SimpleNamespace(day=day, rows=[row(p, p.check_ins[day]) for p in people if day in p.check_ins])
            for day in spec.days
        ]
        names = sum(1 for p in people if any(day in p.check_ins for day in spec.days))
    env = print_environment(rt.settings, spec.format, language)
    html = env.get_template("print/attendance.html").render(
        event=event_view(spec, fmt),
        event_status=event.status,
        sheets=sheets,
        blank=blank,
        town_known=town_known,
        empty_rows=EMPTY_ROWS_BLANK if blank else EMPTY_ROWS_FILLED,
    )
    return html, names, len(sheets)


def render_attendance(
    rt: Runtime,
    slug: str,
    *,
    blank: bool = False,
    out: Path | None = None,
    language: str | None = None,
) -> AttendanceResult:
    """Render attendance-<slug>.pdf (filled from check-ins) or attendance-<slug>-blank.pdf into the event's
    folder, or to `out`."""
    folder = event_dir(rt.settings, slug)
    folder.mkdir(parents=True, exist_ok=True)
    html, names, sheets = attendance_html(rt, slug, blank=blank, language=language)
    roots = [rt.settings.template_dir, folder]
    document = render_document(html, base_dir=folder, allowed_roots=roots, fetcher=SafeFetcher(roots))
    path = write_atomic(out or attendance_path(rt, slug, blank=blank), document.write_pdf())
    return AttendanceResult(path, len(document.pages), names, sheets)

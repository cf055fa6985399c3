"""The recap as a document: its HTML from the input, the store and the survey, rendered to PDF."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

from eventkit.core.files import event_dir, write_atomic
from eventkit.core.i18n import LANGUAGES
from eventkit.core.settings import Settings
from eventkit.documents.pdf import SafeFetcher, print_environment, render_document
from eventkit.events.events import event_view, format_for
from eventkit.model.recap import AgendaEntry, Recap, Session, grid_section, recap_model
from eventkit.model.spec import EventSpec
from eventkit.recap.intake import stored_recap
from eventkit.recap.participants import Figures, figures, participants
from eventkit.recap.photos import PhotoDecision, photo_decisions
from eventkit.runtime import Runtime
from eventkit.sessions.notes import recap_sessions
from eventkit.survey import evaluation

# a recap of more pages than this gets a table of contents
TOC_MIN_PAGES = 5


def recap_path(settings: Settings, slug: str) -> Path:
    return event_dir(settings, slug) / f"recap-{slug}.pdf"


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

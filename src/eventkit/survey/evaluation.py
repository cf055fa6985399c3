"""The survey's evaluation: figures per question, SVG charts, the anonymous CSV export and the evaluation PDF.

Small groups stay anonymous: with fewer responses than the minimum group size (default 3, the spec's
`survey_min_group`), no per-question breakdown is shown and the CSV has no rows; a question answered by
fewer than that many is shown without its breakdown too.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal, format_percent
from markupsafe import Markup

from eventkit.core.files import event_dir, write_atomic
from eventkit.core.i18n import gettext_for, normalise_language
from eventkit.documents.pdf import print_environment, render_pdf
from eventkit.events.events import event_view, find_event, format_for
from eventkit.model.spec import EventSpec
from eventkit.model.survey import Definition, Question
from eventkit.runtime import Runtime
from eventkit.survey.questions import min_group_of
from eventkit.survey.responses import collect

CHART_WIDTH = 480
CHART_LABEL_WIDTH = 180
CHART_ROW = 22
CHART_LABEL_CHARS = 30


@dataclass(frozen=True)
class Bar:
    value: str
    label: str
    count: int
    share: float  # of those who answered the question (several choices: of those who chose any)


@dataclass(frozen=True)
class QuestionResult:
    name: str
    type: str
    label: str
    answered: int
    hidden: bool  # fewer answers than the minimum group size: no breakdown
    bars: tuple[Bar, ...] = ()
    mean: float | None = None
    median: float | None = None
    texts: tuple[str, ...] = ()
    min_label: str | None = None
    max_label: str | None = None


@dataclass(frozen=True)
class Evaluation:
    slug: str
    title: str
    language: str
    invited: int
    responses: int
    min_group: int
    questions: tuple[QuestionResult, ...]
    closed: bool = True

    @property
    def response_rate(self) -> float | None:
        return self.responses / self.invited if self.invited else None

    @property
    def hidden(self) -> bool:
        """Too few responses for any breakdown."""
        return self.responses < self.min_group


def _given(value: object) -> bool:
    return value not in (None, "", [])


def _question(q: Question, answers: Sequence[Mapping[str, Any]], language: str, min_group: int) -> QuestionResult:
    given = [a.get(q.name) for a in answers if _given(a.get(q.name))]
    label = q.label.get(language)
    hidden = len(given) < min_group
    if hidden:
        return QuestionResult(q.name, q.type, label, len(given), True)
    if q.type in ("text", "textarea"):
        return QuestionResult(q.name, q.type, label, len(given), False, texts=tuple(str(v) for v in given))
    if q.type == "scale":
        numbers = [int(v) for v in given if isinstance(v, int) and q.min <= v <= q.max]
        counts = {str(n): numbers.count(n) for n in range(q.min, q.max + 1)}
        bars = tuple(Bar(v, v, c, c / len(numbers) if numbers else 0.0) for v, c in counts.items())
        return QuestionResult(
            q.name,
            q.type,
            label,
            len(numbers),
            False,
            bars,
            statistics.mean(numbers) if numbers else None,
            float(statistics.median(numbers)) if numbers else None,
            min_label=q.min_label.get(language) if q.min_label else None,
            max_label=q.max_label.get(language) if q.max_label else None,
        )
    chosen: list[str] = []
    for value in given:
        chosen.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    bars = tuple(
        Bar(v, text.get(language), chosen.count(v), chosen.count(v) / len(given) if given else 0.0)
        for v, text in q.options
    )
    return QuestionResult(q.name, q.type, label, len(given), False, bars)


def summarise(
    definition: Definition,
    answers: Sequence[Mapping[str, Any]],
    *,
    invited: int,
    min_group: int = 3,
    language: str = "de",
    slug: str = "",
    title: str = "",
    closed: bool = True,
) -> Evaluation:
    """The figures of a set of responses (pure: no store, no files)."""
    language = normalise_language(language)
    if len(answers) < min_group:
        questions = tuple(QuestionResult(q.name, q.type, q.label.get(language), 0, True) for q in definition.questions)
    else:
        questions = tuple(_question(q, answers, language, min_group) for q in definition.questions)
    return Evaluation(slug, title, language, invited, len(answers), min_group, questions, closed)


# --- presentation ----------------------------------------------------------------------------------------


def _locale(language: str) -> str:
    return "de_DE" if language == "de" else "en_GB"


def number(value: float | None, language: str) -> str:
    """A mean or median as people read it: one decimal (4,2 in German)."""
    if value is None:
        return "–"
    # rounded half up, as people round by hand (4.25 is 4.3), not to the even digit
    rounded = Decimal(str(value)).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return format_decimal(rounded, format="0.0", locale=_locale(language))


def percent(share: float | None, language: str) -> str:
    if share is None:
        return "–"
    rounded = Decimal(str(share)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return format_percent(rounded, locale=_locale(language))


def _short(text: str, limit: int = CHART_LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def bar_chart_svg(result: QuestionResult, language: str) -> str:
    """A horizontal bar chart as SVG text: one bar per option or scale point, with count and share.

    Every text in it is escaped; a long label is shortened on the bar, and the chart's <desc> has the
    full labels and figures for screen readers.
    """
    bars = result.bars
    height = CHART_ROW * len(bars) + 8
    span = CHART_WIDTH - CHART_LABEL_WIDTH - 80
    ident = f"chart-{result.name}"
    summary = "; ".join(f"{b.label}: {b.count} ({percent(b.share, language)})" for b in bars)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{CHART_WIDTH}" height="{height}" '
        f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(result.label)}</title>',
        f'<desc id="{ident}-desc">{escape(summary)}</desc>',
    ]
    for i, bar in enumerate(bars):
        y = 4 + i * CHART_ROW
        label = bar.label
        if result.type == "scale":
            ends = {0: result.min_label, len(bars) - 1: result.max_label}
            if ends.get(i):
                label = f"{bar.label} – {ends[i]}"
        width = round(span * bar.share, 1)
        parts.append(
            f'<text x="{CHART_LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end" font-size="10" '
            f'font-family="sans-serif" fill="#1f2328">{escape(_short(label))}</text>'
        )
        parts.append(
            f'<rect x="{CHART_LABEL_WIDTH}" y="{y + 3}" width="{max(width, 0.8) if bar.count else 0}" '
            f'height="{CHART_ROW - 6}" fill="#123a63"/>'
        )
        parts.append(
            f'<text x="{CHART_LABEL_WIDTH + width + 4}" y="{y + 15}" font-size="10" font-family="sans-serif" '
            f'fill="#1f2328">{bar.count} ({escape(percent(bar.share, language))})</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _cell(value: object) -> object:
    # a cell that starts like a formula is shown as text by spreadsheet programs (CSV injection)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(
    definition: Definition,
    answers: Sequence[Mapping[str, Any]],
    days: Sequence[date],
    *,
    language: str = "de",
    min_group: int = 3,
) -> bytes:
    """The raw anonymous answers for a spreadsheet: one row per response, one column per question.

    UTF-8 with BOM and semicolons, as German Excel opens it without an import dialogue (like the
    organisers' registration export); options as their labels, several choices joined by ", ", a scale
    as its number. Fewer responses than `min_group`: the header only, so that nobody can be picked out.
    """
    _ = gettext_for(language).gettext
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([_("Answered on"), *(q.label.get(language) for q in definition.questions)])
    if len(answers) >= min_group:
        for answer, day in zip(answers, days, strict=True):
            row: list[object] = [day.isoformat()]
            for q in definition.questions:
                value = answer.get(q.name)
                if isinstance(value, list):
                    row.append(", ".join(q.option_label(v, language) for v in value))
                elif value is None:
                    row.append("")
                elif q.type in ("choice",):
                    row.append(q.option_label(value, language))
                else:
                    row.append(value)
            writer.writerow([_cell(c) for c in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def summary_markdown(evaluation: Evaluation) -> str:
    """The evaluation's summary as a Markdown table (the Prefect artifact): figures only, no free text."""
    lang = evaluation.language
    rate = percent(evaluation.response_rate, lang)
    lines = [
        f"# Survey evaluation · {evaluation.slug}",
        "",
        f"{evaluation.responses} responses of {evaluation.invited} invited ({rate}).",
        "",
    ]
    if evaluation.hidden:
        lines.append(
            f"Fewer than {evaluation.min_group} responses: no breakdown per question, so that nobody can be "
            "recognised by their answers."
        )
        return "\n".join(lines) + "\n"
    lines += ["| question | answers | mean | median | distribution |", "|---|---:|---:|---:|---|"]
    for q in evaluation.questions:
        if q.hidden:
            shown = f"hidden (fewer than {evaluation.min_group} answers)"
        elif q.texts:
            shown = f"{len(q.texts)} free-text answers (in the PDF)"
        else:
            shown = " · ".join(f"{_md(b.label)}: {b.count}" for b in q.bars)
        lines.append(
            f"| {_md(q.label)} | {q.answered} | {number(q.mean, lang) if q.mean is not None else ''} "
            f"| {number(q.median, lang) if q.median is not None else ''} | {shown} |"
        )
    return "\n".join(lines) + "\n"


def summary_rows(evaluation: Evaluation) -> list[dict[str, object]]:
    """The evaluation's summary as table rows (the Prefect table artifact): figures only, no free text."""
    lang = evaluation.language
    rows: list[dict[str, object]] = [
        {
            "question": "(all)",
            "answers": evaluation.responses,
            "mean": "",
            "median": "",
            "distribution": f"{evaluation.responses} of {evaluation.invited} invited "
            f"({percent(evaluation.response_rate, lang)})",
        }
    ]
    for q in evaluation.questions:
        if evaluation.hidden or q.hidden:
            shown = f"hidden (fewer than {evaluation.min_group} answers)"
        elif q.texts:
            shown = f"{len(q.texts)} free-text answers (in the PDF)"
        else:
            shown = " · ".join(f"{b.label}: {b.count}" for b in q.bars)
        rows.append(
            {
                "question": q.label,
                "answers": q.answered,
                "mean": number(q.mean, lang) if q.mean is not None and not q.hidden else "",
                "median": number(q.median, lang) if q.median is not None and not q.hidden else "",
                "distribution": shown,
            }
        )
    return rows


# --- the event's evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outputs:
    evaluation: Evaluation
    csv: Path
    pdf: Path | None


def evaluate(
    rt: Runtime, slug: str, *, language: str | None = None, min_group: int | None = None
) -> tuple[Evaluation, Definition, list[dict[str, Any]], list[date]] | None:
    """The event's evaluation from the store; None when the event has no survey."""
    collected = collect(rt, slug)
    if collected is None:
        return None
    with rt.store.session() as session:
        spec = EventSpec.from_data(find_event(session, slug).spec)
    language = normalise_language(language or spec.language)
    evaluation = summarise(
        collected.definition,
        collected.responses,
        invited=collected.invited,
        min_group=min_group if min_group is not None else min_group_of(spec),
        language=language,
        slug=slug,
        title=spec.title,
        closed=collected.closed,
    )
    return evaluation, collected.definition, collected.responses, collected.submitted_on


def evaluation_html(rt: Runtime, slug: str, evaluation: Evaluation) -> str:
    with rt.store.session() as session:
        event = find_event(session, slug)
        spec = EventSpec.from_data(event.spec)
    fmt = format_for(rt.settings, spec.format)
    env = print_environment(rt.settings, spec.format, evaluation.language)
    charts: dict[str, Markup] = {}
    for q in evaluation.questions:
        if q.bars:
            # bar_chart_svg escapes every text it puts into the chart
            charts[q.name] = Markup(bar_chart_svg(q, evaluation.language))  # noqa: S704
    return env.get_template("print/evaluation.html").render(
        event=event_view(spec, fmt),
        format=fmt,
        evaluation=evaluation,
        charts=charts,
        rate=percent(evaluation.response_rate, evaluation.language),
        number=lambda v: number(v, evaluation.language),
        percent=lambda v: percent(v, evaluation.language),
        generated=datetime.now(UTC).astimezone(spec.start.tzinfo),
    )


def write_outputs(
    rt: Runtime, slug: str, *, out_dir: Path | None = None, language: str | None = None, pdf: bool = True
) -> Outputs | None:
    """survey-<slug>.csv and evaluation-<slug>.pdf in the event's folder (or out_dir); None: no survey."""
    found = evaluate(rt, slug, language=language)
    if found is None:
        return None
    evaluation, definition, answers, days = found
    folder = out_dir or event_dir(rt.settings, slug)
    folder.mkdir(parents=True, exist_ok=True)
    data = csv_bytes(definition, answers, days, language=evaluation.language, min_group=evaluation.min_group)
    csv_path = write_atomic(folder / f"survey-{slug}.csv", data)
    pdf_path = None
    if pdf:
        html = evaluation_html(rt, slug, evaluation)
        document = render_pdf(html, base_dir=folder, allowed_roots=[rt.settings.template_dir, folder])
        pdf_path = write_atomic(folder / f"evaluation-{slug}.pdf", document)
    return Outputs(evaluation, csv_path, pdf_path)

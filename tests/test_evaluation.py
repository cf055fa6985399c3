"""The evaluation: figures checked against answers counted by hand, hidden small groups, SVG, CSV, PDF."""

from __future__ import annotations

import csv
import io
import random
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from eventkit.devtools import survey_answers
from eventkit.model.formats import Text
from eventkit.model.survey import Definition, Question
from eventkit.runtime import Runtime
from eventkit.survey import emails, evaluation
from eventkit.survey.evaluation import (
    bar_chart_svg,
    csv_bytes,
    number,
    percent,
    summarise,
    summary_markdown,
    summary_rows,
)
from tests.test_survey import PEOPLE, add_attendee, make_ended_event

YES_NO = (("yes", Text({"de": "Ja", "en": "Yes"})), ("maybe", Text({"de": "Vielleicht"})), ("no", Text({"de": "Nein"})))
CHANNELS = (("a", Text({"de": "Einladung"})), ("b", Text({"de": "Netzwerk"})), ("c", Text({"de": "Website"})))
DEFINITION = Definition(
    questions=(
        Question(
            name="overall",
            type="scale",
            label=Text({"de": "Insgesamt", "en": "Overall"}),
            required=True,
            min_label=Text({"de": "gar nicht"}),
            max_label=Text({"de": "sehr gut"}),
        ),
        Question(name="again", type="choice", label=Text({"de": "Wiederkommen?"}), required=True, options=YES_NO),
        Question(name="heard", type="multichoice", label=Text({"de": "Erfahren über"}), options=CHANNELS),
        Question(name="best", type="textarea", label=Text({"de": "Am besten"})),
        Question(name="venue", type="scale", label=Text({"de": "Ort"})),
    )
)
# five responses; the figures below are counted by hand from them
ANSWERS = [
    {"overall": 5, "again": "yes", "heard": ["a", "b"], "best": "Der Austausch", "venue": 4},
    {"overall": 4, "again": "yes", "heard": ["a"], "best": None, "venue": None},
    {"overall": 4, "again": "no", "heard": [], "best": '=HYPERLINK("x")', "venue": None},
    {"overall": 2, "again": "maybe", "heard": ["c"], "best": None, "venue": 2},
    {"overall": 5, "again": "yes", "heard": ["a", "c"], "best": "Die Arbeitsgruppen", "venue": None},
]
DAYS = [date(2027, 11, 21)] * 3 + [date(2027, 11, 23)] * 2


def by_name(result: evaluation.Evaluation) -> dict[str, evaluation.QuestionResult]:
    return {q.name: q for q in result.questions}


def test_figures_match_the_hand_count() -> None:
    result = summarise(DEFINITION, ANSWERS, invited=8, min_group=3, language="de")
    assert (result.responses, result.invited, result.response_rate) == (5, 8, 0.625)
    assert (
        percent(result.response_rate, "de") == "63\u00a0%"
    )  # no break before % and percent(result.response_rate, "en") == "63%"
    q = by_name(result)

    overall = q["overall"]
    assert overall.answered == 5 and not overall.hidden
    assert [(b.value, b.count) for b in overall.bars] == [("1", 0), ("2", 1), ("3", 0), ("4", 2), ("5", 2)]
    assert [b.share for b in overall.bars] == [0.0, 0.2, 0.0, 0.4, 0.4]
    assert overall.mean == 4.0 and overall.median == 4.0  # (5+4+4+2+5)/5 = 20/5; sorted 2 4 4 5 5
    assert number(overall.mean, "de") == "4,0" and number(overall.mean, "en") == "4.0"

    again = q["again"]
    assert [(b.label, b.count) for b in again.bars] == [("Ja", 3), ("Vielleicht", 1), ("Nein", 1)]
    assert [b.share for b in again.bars] == [0.6, 0.2, 0.2]

    heard = q["heard"]  # four people chose at least one channel; shares are of them
    assert heard.answered == 4
    assert [(b.value, b.count, b.share) for b in heard.bars] == [("a", 3, 0.75), ("b", 1, 0.25), ("c", 2, 0.5)]

    best = q["best"]
    assert best.texts == ("Der Austausch", '=HYPERLINK("x")', "Die Arbeitsgruppen") and not best.bars

    venue = q["venue"]  # two answers, fewer than three: no breakdown
    assert venue.hidden and venue.answered == 2 and not venue.bars and venue.mean is None


def test_means_and_medians_of_uneven_counts() -> None:
    answers = [{"overall": v, "again": "yes"} for v in (3, 3, 4, 3)]
    overall = by_name(summarise(DEFINITION, answers, invited=4))["overall"]
    assert overall.mean == 3.25 and overall.median == 3.0
    assert number(overall.mean, "de") == "3,3"  # rounded half up, as by hand
    answers = [{"overall": v, "again": "yes"} for v in (1, 2, 4, 5)]
    assert by_name(summarise(DEFINITION, answers, invited=4))["overall"].median == 3.0


def test_fewer_responses_than_the_minimum_hide_every_breakdown() -> None:
    result = summarise(DEFINITION, ANSWERS[:2], invited=8, min_group=3)
    assert result.hidden and all(q.hidden and not q.bars and not q.texts for q in result.questions)
    markdown = summary_markdown(result)
    assert "2 responses of 8 invited" in markdown and "Fewer than 3 responses" in markdown
    assert "Der Austausch" not in markdown
    text = csv_bytes(DEFINITION, ANSWERS[:2], DAYS[:2], min_group=3).decode("utf-8-sig")
    assert len(text.strip().splitlines()) == 1  # the header only
    # the minimum is the event's choice
    assert not summarise(DEFINITION, ANSWERS[:2], invited=8, min_group=2).hidden
    assert summarise(DEFINITION, ANSWERS, invited=8, min_group=6).hidden


def test_the_csv_is_for_german_spreadsheets_and_defuses_formulas() -> None:
    data = csv_bytes(DEFINITION, ANSWERS, DAYS, language="de", min_group=3)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Beantwortet am", "Insgesamt", "Wiederkommen?", "Erfahren über", "Am besten", "Ort"]
    assert rows[1] == ["2027-11-21", "5", "Ja", "Einladung, Netzwerk", "Der Austausch", "4"]
    assert rows[3][4] == '\'=HYPERLINK("x")'
    assert rows[3][3] == "" and len(rows) == 6
    assert b"\r\n" in data


def test_the_chart_is_valid_svg_with_escaped_labels() -> None:
    evil = Definition(
        questions=(
            Question(
                name="again",
                type="choice",
                label=Text({"de": "<script>alert(1)</script> & Co"}),
                options=(("x", Text({"de": '</text><image href="http://x/"/>'})), ("y", Text({"de": "Nein"}))),
            ),
        )
    )
    result = summarise(evil, [{"again": "x"}, {"again": "y"}, {"again": "x"}], invited=3)
    svg = bar_chart_svg(result.questions[0], "de")
    root = ET.fromstring(svg)  # well-formed
    assert root.tag.endswith("svg") and root.get("role") == "img"
    assert "<script>" not in svg and "<image" not in svg
    assert "&lt;script&gt;" in svg
    assert "2 (67\u00a0%)" in svg
    rects = [el for el in root.iter() if el.tag.endswith("rect")]
    assert len(rects) == 2 and float(rects[0].get("width") or 0) > float(rects[1].get("width") or 0) > 0


def test_the_summary_table_has_figures_and_no_free_text() -> None:
    result = summarise(DEFINITION, ANSWERS, invited=8, language="de")
    rows = summary_rows(result)
    assert rows[0]["answers"] == 5 and "5 of 8 invited (63\u00a0%)" in str(rows[0]["distribution"])
    overall = next(r for r in rows if r["question"] == "Insgesamt")
    assert (overall["mean"], overall["median"]) == ("4,0", "4,0")
    assert overall["distribution"] == "1: 0 · 2: 1 · 3: 0 · 4: 2 · 5: 2"
    assert "Der Austausch" not in str(rows) and "Der Austausch" not in summary_markdown(result)
    assert "hidden (fewer than 3 answers)" in str(rows)


@pytest.fixture
def rt(tmp_path: Path, database_url: str):  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    runtime = Runtime.from_settings(make_settings(tmp_path, database_url))
    yield runtime
    runtime.store.dispose()


def test_the_event_gets_its_csv_and_pdf(rt: Runtime, tmp_path: Path) -> None:
    spec = make_ended_event(rt, "survey_audience: registered\n")
    for email, name, language, present in PEOPLE:
        add_attendee(rt, spec, email, name, language, present=present)
    assert emails.open_survey(rt, spec.slug)["invited"] == 4
    assert survey_answers.simulate_responses(rt, spec.slug, random.Random(5), share=1.0) == 4
    outputs = evaluation.write_outputs(rt, spec.slug)
    assert outputs is not None and outputs.pdf is not None
    folder = rt.settings.var_dir / "events" / spec.slug
    assert outputs.csv == folder / f"survey-{spec.slug}.csv"
    assert outputs.pdf == folder / f"evaluation-{spec.slug}.pdf"
    assert outputs.pdf.read_bytes().startswith(b"%PDF")
    assert len(outputs.csv.read_text(encoding="utf-8-sig").strip().splitlines()) == 5
    assert outputs.evaluation.responses == 4 and outputs.evaluation.invited == 4
    html = evaluation.evaluation_html(rt, spec.slug, outputs.evaluation)
    assert "Auswertung der Umfrage" in html and "<svg" in html and "100\u00a0%" in html
    assert "Ayşe" not in html and "ayse@example.org" not in html  # nobody's name or address


def test_no_survey_no_evaluation(rt: Runtime) -> None:
    spec = make_ended_event(rt)
    assert evaluation.write_outputs(rt, spec.slug) is None

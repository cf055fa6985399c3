"""The recap flow under Prefect: from a recap file to the PDFs, the artifacts and the thanks, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.input.run_input import run_input_subclass_from_type
from pydantic import ValidationError

from eventkit import runtime
from eventkit.core.files import event_dir
from eventkit.devtools.mailsink import MailSink
from eventkit.model.base import failure
from eventkit.model.formats import discover
from eventkit.recap import intake
from flows.recap import attendance_list, input_model, recap_flow
from tests.conftest import EXAMPLES, TEMPLATES, make_settings
from tests.flows.test_delivery import flow_run_name, parsed
from tests.test_pdf import pdf_text
from tests.test_recap import add_event, add_people

pytestmark = pytest.mark.prefect


@pytest.fixture
def rt(prefect_harness: None, tmp_path: Path, database_url: str, sink: MailSink) -> Iterator[runtime.Runtime]:
    configured = runtime.configure(make_settings(tmp_path, database_url, sink.url))
    yield configured
    configured.store.dispose()


def test_recap_from_a_file_then_again_from_the_stored_input(rt: runtime.Runtime, sink: MailSink) -> None:
    slug = add_event(rt, "fachvernetzung")
    add_people(rt, slug)
    state = recap_flow(slug, str(EXAMPLES / "recaps" / "fachvernetzung-gifhorn.yaml"), return_state=True)
    result = state.result()
    assert flow_run_name(state) == f"recap · {slug}"
    folder = event_dir(rt.settings, slug)
    assert Path(result["recap"]) == folder / f"recap-{slug}.pdf" and Path(result["recap"]).is_file()
    assert Path(result["attendance"]) == folder / f"attendance-{slug}.pdf"
    assert (result["attended"], result["thanks_thanks"], result["sent"], result["failed"]) == (3, 3, 3, 0)
    messages = {r.rcpt_tos[0]: parsed(r) for r in sink.received}
    assert set(messages) == {"renate@example.org", "m.alahmad@example.org", "dmitri@example.org"}
    assert any(p.get_content_type() == "application/pdf" for p in messages["renate@example.org"].walk())

    again = recap_flow(slug)  # no file: the input kept in the event's folder is used
    assert (again["thanks_thanks"], again["thanks_already"], again["sent"]) == (0, 3, 0)
    assert len(sink.received) == 3

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_latest_artifacts() if a.key}  # type: ignore[call-arg]
    summary = str(artifacts[f"recap-{slug}"].data)
    assert "| 4 | 3 | 3 | 2 |" in summary  # registered, attended, organisations, named with consent
    assert "renate" not in summary and "Müller" not in summary
    assert str(artifacts[f"attendance-{slug}"].data).endswith(f"/attendance-{slug}.pdf)")


def test_the_attendance_list_never_waits_for_the_recap_input(rt: runtime.Runtime, tmp_path: Path) -> None:
    slug = add_event(rt, "fachvernetzung")
    add_people(rt, slug)
    mistaken = tmp_path / "recap.yaml"
    mistaken.write_text("summray: Tippfehler\n", encoding="utf-8")
    state = recap_flow(slug, str(mistaken), return_state=True)
    assert state.is_failed()  # the outcomes must be put right before there is a recap ...
    folder = event_dir(rt.settings, slug)
    assert not (folder / f"recap-{slug}.pdf").exists()
    # ... but the attendance list comes from the check-ins alone, and is there already
    text = pdf_text((folder / f"attendance-{slug}.pdf").read_bytes(), tmp_path, layout=False)
    assert "Renate Müller" in text and "Eingecheckt: 3" in text and "Olena" not in text


def test_blank_attendance_list_flow(rt: runtime.Runtime) -> None:
    slug = add_event(rt, "barcamp")
    add_people(rt, slug)
    path = Path(attendance_list(slug))
    assert path.name == f"attendance-{slug}-blank.pdf" and path.is_file()


def test_the_form_of_each_format_becomes_a_valid_recap(rt: runtime.Runtime) -> None:
    slug = add_event(rt, "fachvernetzung")
    formats = discover(TEMPLATES)
    form = input_model(formats["fachvernetzung"])(
        summary="Ein **gutes** Treffen.",
        initiatives=["Omas gegen Rechts Gifhorn", "CSD Gifhorn e.V."],
        decisions=["Ein Demokratiekonzept wird aufgesetzt."],
        next_date="Frühjahr 2028",
    )
    kept = intake.take_data(rt, slug, form.to_data())
    assert [o.name for o in kept.initiatives] == ["Omas gegen Rechts Gifhorn", "CSD Gifhorn e.V."]
    assert intake.stored_recap(rt, slug) == kept
    assert input_model(formats["barcamp"]).model_json_schema()["properties"]["sessions"]
    assert "sessions" not in input_model(formats["fachvernetzung"]).model_json_schema()["properties"]


def test_a_bad_form_is_named_by_its_fields() -> None:
    form = run_input_subclass_from_type(input_model(discover(TEMPLATES)["barcamp"]))
    with pytest.raises(ValidationError) as info:
        form(sessions=[{"round": 0, "table": 1, "title": "Runde"}], review="Rückblick")
    assert failure(info.value, "Prefect UI").render("en").splitlines() == [
        "Prefect UI: review: is not part of a recap of the format barcamp",
        "Prefect UI: sessions[0].round: must be a whole number of at least 1",
    ]

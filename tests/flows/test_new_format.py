"""A fourth format is one folder, end to end: with nothing but its folder in a template directory, an event of it
sends its invitations, makes its recap and sends its survey under Prefect, to a real SMTP server."""

from __future__ import annotations

import email
import email.policy
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from eventkit import runtime
from eventkit.devtools.mailsink import MailSink
from eventkit.events.events import save_event
from eventkit.model.spec import parse_spec
from flows.invitations import send_invitations
from flows.recap import recap_flow
from flows.survey import send_survey
from tests.conftest import make_settings
from tests.test_new_format import RECAP, SPEC
from tests.test_new_format import templates as templates  # noqa: F401 - the fixture: _base plus the new format
from tests.test_survey import add_attendee

pytestmark = pytest.mark.prefect

INVITEES = """email,name,organisation,language
ayse@example.org,Ayşe Yılmaz,Tafel Gifhorn e.V.,de
m.alahmad@example.org,محمد الأحمد,Kulturverein,en
"""


@pytest.fixture
def rt(prefect_harness: None, tmp_path: Path, templates: Path, sink: MailSink) -> Iterator[runtime.Runtime]:  # noqa: F811
    database_url = f"sqlite:///{tmp_path / 'eventkit.sqlite3'}"
    configured = runtime.configure(
        make_settings(tmp_path, database_url, sink.url, EVENTKIT_TEMPLATE_DIR=str(templates))
    )
    yield configured
    configured.store.dispose()


def received(sink: MailSink, since: int = 0) -> list[EmailMessage]:
    return [email.message_from_bytes(r.data, policy=email.policy.default) for r in sink.received[since:]]  # type: ignore[misc]


def test_the_new_formats_invitation_recap_and_survey(
    rt: runtime.Runtime,
    sink: MailSink,
    templates: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    # the invitations of an event still to come
    upcoming = parse_spec(SPEC, templates)
    save_event(rt.store, rt.settings, upcoming)
    invitees = tmp_path / "invitees.csv"
    invitees.write_text(INVITEES, encoding="utf-8")
    sent = send_invitations(upcoming.slug, str(invitees))
    assert (sent["sent"], sent["failed"]) == (2, 0)
    invitations = {m["To"].addresses[0].addr_spec: m for m in received(sink)}
    assert set(invitations) == {"ayse@example.org", "m.alahmad@example.org"}
    german = invitations["ayse@example.org"]
    assert "Stammtisch der Initiativen" in german["Subject"]
    body = german.get_body(preferencelist=("plain",))
    assert body is not None and "Thema des Abends" in body.get_content()  # the format's own agenda skeleton
    parts = {part.get_content_type(): part for part in german.walk()}
    assert "METHOD:REQUEST" in parts["text/calendar"].get_content()

    # the recap and the survey of one that was held yesterday
    day = date.today() - timedelta(days=1)
    held = parse_spec(
        SPEC.replace("start: 2027-05-12T19:00", f"start: {day.isoformat()}T19:00").replace("2027", str(day.year)),
        templates,
    )
    save_event(rt.store, rt.settings, held)
    add_attendee(rt, held, "olena@example.org", "Olena Kovalenko", "de", present=True)
    add_attendee(rt, held, "dmitri@example.org", "Дмитрий Иванов", "en", present=False)
    before = len(sink.received)
    recap_file = tmp_path / "recap.yaml"
    recap_file.write_text(RECAP, encoding="utf-8")
    made = recap_flow(held.slug, str(recap_file))
    text = subprocess.run(["pdftotext", made["recap"], "-"], capture_output=True, text=True, check=True).stdout
    assert "Was hängen blieb" in text and "Neue Gesichter" in text  # the section the format declared
    assert "Kulturverein" in text and made["attended"] == 1
    assert [m["To"].addresses[0].addr_spec for m in received(sink, before)] == ["olena@example.org"]  # the thank-you

    before = len(sink.received)
    surveyed = send_survey(held.slug)
    assert (surveyed["sent"], surveyed["failed"]) == (1, 0)
    [survey_mail] = received(sink, before)
    assert survey_mail["To"].addresses[0].addr_spec == "olena@example.org"
    survey_body = survey_mail.get_body(preferencelist=("plain",))
    assert survey_body is not None and f"/e/{held.slug}/survey?t=" in survey_body.get_content()

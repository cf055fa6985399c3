"""`eventkit demo` on embedded defaults: every example invitee gets an invitation file; simulated
registrations fill the BarCamp, and one cancellation promotes the first person waiting."""

from __future__ import annotations

import csv
import email
import email.policy
import json
import re
from datetime import date
from pathlib import Path

import httpx
import icalendar
import pytest
from click.testing import CliRunner

from eventkit.cli import main
from tests.conftest import EXAMPLES
from tests.test_pdf import pdf_text
from tests.test_series import Client

pytestmark = pytest.mark.prefect


@pytest.mark.slow
def test_demo_sends_every_example_invitation(prefect_harness: None, tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    result = CliRunner().invoke(main, ["--lang", "en", "demo", "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    expected = 0
    for spec in EXAMPLES.glob("*.yaml"):
        with spec.with_name(f"{spec.stem}-invitees.csv").open(encoding="utf-8") as fh:
            expected += sum(1 for _ in csv.DictReader(fh))
    mails = sorted((out / "mail").glob("*.eml"))
    invitations = [
        m
        for m in mails
        if "-invitation-" in m.name
        and "-survey-invitation-" not in m.name
        and not m.name.startswith(("eventkit-series-", "plenum-"))  # the series' emails: below
    ]
    assert len(invitations) == expected
    for path in invitations:
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert any(p.get_content_type() == "text/calendar" for p in msg.walk())
    # the registration part: a waiting list that moves, a cancellation with METHOD:CANCEL, a double opt-in
    kinds = [m.name.split("-registration-")[1].rsplit("-", 1)[0] for m in mails if "-registration-" in m.name]
    assert kinds.count("promoted") == 1 and kinds.count("cancelled") == 1 and kinds.count("optin") == 1
    assert kinds.count("waitlisted") == 2  # the BarCamp's two beyond its ten places
    cancel = next(m for m in mails if "-registration-cancelled-" in m.name)
    msg = email.message_from_bytes(cancel.read_bytes(), policy=email.policy.default)
    assert [p.get_param("method") for p in msg.walk() if p.get_content_type() == "text/calendar"] == ["CANCEL"]
    assert "barcamp-2027-hannover: 10 registered, 1 waiting, 1 cancelled, 1 promoted" in result.output
    assert f"{len(mails)} emails written" in result.output

    # every later phase ran, in compressed time, and left what the contract names in OUT
    for slug in (
        "fachvernetzung-2027-gifhorn",
        "netzwerktreffen-2027-gera",
        "barcamp-2027-hannover",
        "vernetzung-2027-nuernberg",
    ):
        for name in (f"recap-{slug}.pdf", f"attendance-{slug}.pdf", f"evaluation-{slug}.pdf"):
            assert (out / name).read_bytes().startswith(b"%PDF-"), name
        figures = pdf_text((out / f"recap-{slug}.pdf").read_bytes(), tmp_path, layout=False).split("in Zahlen")[1]
        assert not re.search(r"(^|\s)[0–] (angemeldet|teilgenommen|Organisationen|Orte)\b", figures), slug
        rows = list(
            csv.reader((out / f"survey-{slug}.csv").read_text(encoding="utf-8-sig").splitlines(), delimiter=";")
        )
        assert len(rows) > 3  # a header and the simulated answers (more than the minimum group)
    # one BarCamp: the recap's grid is the plan made on the session board, with what the hosts wrote
    plan = pdf_text((out / "session-plan-barcamp-2027-hannover.pdf").read_bytes(), tmp_path)
    told = pdf_text((out / "recap-barcamp-2027-hannover.pdf").read_bytes(), tmp_path)
    for title in ("Partnerschaften verjüngen", "Fördertöpfe für Begegnungen"):
        assert title in plan and title in told
    assert "Transformationsstelle der VDFG" in told and "Mitgliedergewinnung" not in told
    # the two-day meeting: its days in the recap's figures, a sheet a day in the attendance list
    meeting = pdf_text((out / "recap-vernetzung-2027-nuernberg.pdf").read_bytes(), tmp_path)
    assert "Teilnahme pro Tag: Donnerstag, 4. November 2027: " in meeting and "Freitag, 5. November 2027: " in meeting
    assert "Tag 2 von 2" in pdf_text((out / "attendance-vernetzung-2027-nuernberg.pdf").read_bytes(), tmp_path)
    export = json.loads((out / "export-person.json").read_text(encoding="utf-8"))
    assert export["email"] == "zeynep.aydin@example.org"
    timeline = result.output.split("The lifecycle in compressed time")[1]
    phases = ("reminder-7d", "reminder-1d", "registration-close", "sessions", "working-groups", "event", "recap")
    for phase in (*phases, "survey", "evaluation", "purge"):
        assert f"  {phase} " in timeline
    assert "FAILED" not in timeline
    names = " ".join(m.name for m in mails)
    for kind in ("-reminder-", "-recap-thanks-", "-survey-invitation-", "-survey-reminder-"):
        assert f"barcamp-2027-hannover{kind}" in names
    # least data: no attendee's address in the runs' logs or artifacts (issue 8), searched through the API
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    logs = httpx.post(f"{api}/logs/filter", json={"limit": 200, "offset": 0}, timeout=30).json()
    offset = 200
    while len(logs) == offset:
        logs += httpx.post(f"{api}/logs/filter", json={"limit": 200, "offset": offset}, timeout=30).json()
        offset += 200
    artifacts = httpx.post(f"{api}/artifacts/filter", json={"limit": 200, "offset": 0}, timeout=30).json()
    assert artifacts and any(a["key"] and a["key"].startswith("registrations-") for a in artifacts)
    seen = "\n".join(str(entry.get("message")) for entry in logs) + "\n".join(str(a.get("data")) for a in artifacts)
    addresses = {"zeynep.aydin@example.org"}
    for spec in EXAMPLES.glob("*.yaml"):
        for people in (f"{spec.stem}-invitees.csv", f"{spec.stem}-public-registrants.csv"):
            if spec.with_name(people).is_file():
                with spec.with_name(people).open(encoding="utf-8") as fh:
                    addresses |= {row["email"] for row in csv.DictReader(fh)}
    with (EXAMPLES / "series" / "plenum-buendnis-members.csv").open(encoding="utf-8") as fh:
        addresses |= {row["email"] for row in csv.DictReader(fh)}
    assert not [a for a in addresses if a in seen]

    # the series: one calendar for the members, the first meetings as events, a member registered and one
    # meeting moved; the member's calendar, given every email in order, holds each meeting once
    assert "A recurring meeting (series plenum-buendnis-zwickau)" in result.output
    published = icalendar.Calendar.from_ical((out / "series-plenum-buendnis-zwickau.ics").read_bytes())
    master = next(e for e in published.walk("VEVENT") if "RECURRENCE-ID" not in e)
    assert master["RRULE"]["FREQ"] == ["MONTHLY"] and [d.dt.date() for d in master["EXDATE"].dts] == [date(2027, 7, 14)]
    overrides = {
        e["RECURRENCE-ID"].dt.date(): e["DTSTART"].dt.date() for e in published.walk("VEVENT") if "RECURRENCE-ID" in e
    }
    assert overrides[date(2027, 4, 14)] == date(2027, 4, 21) and overrides[date(2027, 10, 13)] == date(2027, 10, 20)
    member = "beirat@buendnis-zwickau.example.org"
    client = Client()
    received = 0
    for path in sorted(mails, key=lambda p: p.stem.rsplit("-", 1)[1]):  # in the order they were sent
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg["To"].addresses[0].addr_spec != member:
            continue
        for part in msg.walk():
            if part.get_content_type() == "text/calendar":
                cal = icalendar.Calendar.from_ical(part.get_content())
                assert {str(e["UID"]) for e in cal.walk("VEVENT")} == {str(master["UID"])}
                client.receive(cal)
                received += 1
    assert received == 6  # the series invitation, two meetings' invitations, a confirmation, the move (twice)
    assert len(client.on(date(2027, 1, 13))) == 1 and client.on(date(2027, 4, 14)) == []
    assert len(client.on(date(2027, 4, 21))) == 1 and len(client.on(date(2028, 1, 12))) == 1

    # a second run starts from nothing and ends the same
    again = CliRunner().invoke(main, ["--lang", "en", "demo", "--out", str(out)], catch_exceptions=False)
    assert again.exit_code == 0
    assert len(list((out / "mail").glob("*.eml"))) == len(mails)

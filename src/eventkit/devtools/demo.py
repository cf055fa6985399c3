"""`eventkit demo`: the example events of examples/, run through their flows on embedded defaults."""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

import eventkit.features  # noqa: F401 - every feature registers its email kinds before the demo delivers
from eventkit import runtime
from eventkit.core.errors import N_
from eventkit.core.settings import PROJECT_ROOT, Settings
from eventkit.db.store import Registration
from eventkit.devtools import survey_answers
from eventkit.devtools.demo_series import run_series
from eventkit.devtools.mailbox import deliver, invitation_tokens
from eventkit.door import checkins
from eventkit.events.events import find_event, format_for, save_event
from eventkit.invitations import invitations
from eventkit.model import lifecycle
from eventkit.model.invitees import read_invitees
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.spec import load_spec
from eventkit.privacy import privacy, retention
from eventkit.registration import cancellation, desk, optin, queries, rules
from eventkit.runtime import Runtime
from eventkit.sessions.board import set_interest
from eventkit.sessions.emails import enqueue_plan_emails
from eventkit.sessions.grid import grid_of
from eventkit.sessions.groups import assign_working_groups
from eventkit.sessions.notes import notes_link, save_notes
from eventkit.sessions.planning import plan
from eventkit.sessions.proposals import propose
from eventkit.sessions.publish import plan_pdf, publish
from eventkit.survey import emails, evaluation, responses
from flows.delivery import deliver_outbox
from flows.invitations import send_invitations
from flows.recap import attendance_list, recap_flow
from flows.reminders import send_reminder

EXAMPLES_DIR = PROJECT_ROOT / "examples"


def demo_settings(out: Path) -> Settings:
    env = {k: v for k, v in os.environ.items() if k.startswith("EVENTKIT_")}
    env.pop("EVENTKIT_SMTP_URL", None)  # the demo never mails real people: embedded .eml files only
    env.update(
        EVENTKIT_DATABASE_URL=f"sqlite:///{out / 'eventkit.sqlite3'}",
        EVENTKIT_MAIL_DIR=str(out / "mail"),
        EVENTKIT_VAR_DIR=str(out),
    )
    return Settings.from_env(env)


def _reset(out: Path) -> None:
    """Remove only what an earlier demo left in OUT, so that a rerun starts from nothing."""
    shutil.rmtree(out / "mail", ignore_errors=True)
    shutil.rmtree(out / "events", ignore_errors=True)  # the events' folders (and a series' state) go with the store
    for name in ("eventkit.sqlite3", "eventkit.sqlite3-wal", "eventkit.sqlite3-shm"):
        (out / name).unlink(missing_ok=True)


def run_demo(out: Path, *, echo: Callable[[str], Any], translate: Callable[..., str]) -> None:
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    _reset(out)
    settings = demo_settings(out)
    rt = runtime.configure(settings)
    specs = sorted(p for p in EXAMPLES_DIR.glob("*.yaml"))
    echo(translate(N_("eventkit demo: %(count)s example events from %(dir)s"), count=len(specs), dir=str(EXAMPLES_DIR)))
    rows = []
    started = time.perf_counter()
    for spec_path in specs:
        spec = load_spec(spec_path, settings.template_dir)
        save_event(rt.store, settings, spec)
        csv_path = spec_path.with_name(f"{spec_path.stem}-invitees.csv")
        count = len(read_invitees(csv_path)) if csv_path.is_file() else 0
        t0 = time.perf_counter()
        state = send_invitations(spec.slug, str(csv_path) if count else None, return_state=True)
        report = invitations.delivery_report(rt.store, spec.slug)
        rows.append((spec, count, report, time.perf_counter() - t0, state.is_completed()))
    echo("")
    header = f"{'event':38} {'format':16} {'date':10} {'invitees':>8} {'sent':>5} {'failed':>6}  run"
    echo(header)
    echo("-" * len(header))
    for spec, count, report, seconds, ok in rows:
        echo(
            f"{spec.slug:38} {spec.format:16} {spec.start.date().isoformat():10} {count:>8} {report.sent:>5} "
            f"{report.failed:>6}  {'ok' if ok else 'FAILED'} ({seconds:.1f} s)"
        )
    echo("")
    public = _simulate_registrations(rt, specs, echo=echo, translate=translate)
    for address in public[:1]:
        _export_person(rt, address, out, echo=echo, translate=translate)
    echo("")
    if not _run_phases(rt, specs, out, echo=echo, translate=translate):
        raise SystemExit(1)
    echo("")
    if not run_series(rt, EXAMPLES_DIR, out, echo=echo, translate=translate):
        raise SystemExit(1)
    mails = sorted((out / "mail").glob("*.eml"))
    echo("")
    echo(
        translate(
            N_("%(count)s emails written to %(dir)s in %(seconds).1f s."),
            count=len(mails),
            dir=str(out / "mail"),
            seconds=time.perf_counter() - started,
        )
    )
    if not all(ok for *_, ok in rows):
        raise SystemExit(1)


def _simulate_registrations(
    rt: Runtime, specs: list[Path], *, echo: Callable[[str], Any], translate: Callable[..., str]
) -> list[str]:
    """Registrations as the web app makes them: invitees follow their links (about two in three register),
    the people of an example's -public-registrants.csv register through the public link with double opt-in,
    and an event with more invitees than places fills up, so that one cancellation promotes the first person
    waiting. The emails are delivered like the app's. Returns who registered through the public link."""
    echo(translate(N_("Registrations (simulated, through the same code as the web app):")))
    public = []
    for spec_path in specs:
        spec = load_spec(spec_path, rt.settings.template_dir)
        asked = {field.name for field in format_for(rt.settings, spec.format).registration_fields}
        csv_path = spec_path.with_name(f"{spec_path.stem}-invitees.csv")
        invitees = read_invitees(csv_path) if csv_path.is_file() else []
        public_path = spec_path.with_name(f"{spec_path.stem}-public-registrants.csv")
        guests = read_invitees(public_path) if public_path.is_file() else []
        tokens = invitation_tokens(rt, spec.slug)
        now = (spec.registration_deadline or spec.start) - timedelta(days=14)
        # more invited than places: everyone invited wants to come
        fill = spec.capacity is not None and len(invitees) > spec.capacity
        outcomes = []
        for index, invitee in enumerate(invitees):
            if not fill and index % 3 == 2:
                continue
            answers: dict[str, Any] = {"support_needs": ["step_free"]} if index == 1 else {}
            groups = [str(g) for g in spec.extra.get("working_groups") or []]
            if {"working_group_first", "working_group_second"} <= asked and len(groups) >= 2:
                # first and second choice, the first groups more popular than the last
                choice = groups[min(index % 3, len(groups) - 1)]
                answers["working_group_first"] = choice
                answers["working_group_second"] = next(g for g in reversed(groups) if g != choice)
            data = RegistrationInput(invitee.name, invitee.email, invitee.organisation, invitee.language, answers)
            outcomes.append(desk.submit(rt, spec.slug, data, invitation_token=tokens.get(invitee.email), now=now))
        for guest in guests:
            data = RegistrationInput(guest.name, guest.email, guest.organisation, guest.language, {})
            pending = desk.submit(rt, spec.slug, data, now=now)
            with rt.store.session() as session:
                registration = session.get(Registration, pending.registration_id)
                assert registration is not None
                token = rules.confirm_token(rt, registration)
            optin.confirm(rt, spec.slug, token, now=now + timedelta(hours=2))
            public.append(guest.email)
        promoted = None
        if fill:
            first = next(o for o in outcomes if o.status == "registered" and o.manage_token)
            assert first.manage_token is not None
            promoted = cancellation.cancel(rt, spec.slug, first.manage_token, now=now + timedelta(days=1)).promoted
        sent = deliver(rt)
        counts = queries.counts(rt, spec.slug)
        echo(
            "  "
            + translate(
                N_(
                    "%(slug)s: %(registered)s registered, %(waiting)s waiting, %(cancelled)s cancelled, "
                    "%(promoted)s promoted from the waiting list; %(sent)s emails"
                ),
                slug=spec.slug,
                registered=counts.get("registered", 0),
                waiting=counts.get("waitlisted", 0),
                cancelled=counts.get("cancelled", 0),
                promoted=1 if promoted else 0,
                sent=sent,
            )
        )
    return public


def _run_phases(
    rt: Runtime, specs: list[Path], out: Path, *, echo: Callable[[str], Any], translate: Callable[..., str]
) -> bool:
    """Every later phase of each example event, in the order and at the times the lifecycle schedules them,
    with the clock moved forward to each phase's time: reminders, the close of registration, the check-in
    on the day, the recap, the survey with its reminder, and the evaluation. Prints the timeline."""
    echo(translate(N_("The lifecycle in compressed time (the clock moves to each phase's time):")))
    rng = random.Random(2025)  # noqa: S311 - simulated answers, the same on every run; nothing secret
    ok = True
    for spec_path in specs:
        spec = load_spec(spec_path, rt.settings.template_dir)
        slug = spec.slug
        timeline = lifecycle.plan(spec, format_for(rt.settings, spec.format), datetime.now(UTC))
        echo("")
        echo(f"  {slug} ({spec.format})")

        zone = spec.start.tzinfo

        def row(at: datetime, phase: str, what: str, zone: Any = zone) -> None:
            echo(f"    {at.astimezone(zone).strftime('%Y-%m-%d %H:%M')}  {phase:18} {what}")

        # the day itself sits between the phases before and after it
        steps: list[Any] = sorted([*timeline, None], key=lambda p: p.at if p is not None else spec.start)
        for phase in steps:
            if phase is None:
                if grid_of(rt, slug) is not None:
                    row(spec.start, "sessions", _plan_sessions(rt, spec, out, rng, translate))
                if spec.extra.get("working_groups"):
                    row(spec.start, "working-groups", _assign_groups(rt, spec, translate))
                # the organisers check in who came (about four in five of those with a place), on each day
                people = [r for r in queries.listing(rt, slug)[1] if r.status == "registered"]
                came: set[int] = set()
                for n, day in enumerate(spec.days):
                    at = datetime.combine(day, spec.start.timetz()) if n else spec.start
                    for r in people:
                        # on a later day most of those who came return, and a few come only then
                        if rng.random() < (0.8 if n == 0 or r.id in came else 0.2):
                            checkins.check_in(rt, slug, r.id, True, day, now=at)
                            came.add(r.id)
                what = translate(N_("%(came)s of %(registered)s checked in"), came=len(came), registered=len(people))
                row(spec.start, "event", what)
                continue
            try:
                what = _phase(rt, spec, spec_path, phase, out, rng, translate)
            except Exception as exc:  # noqa: BLE001 - the demo reports a failed phase and goes on
                ok = False
                what = "FAILED: " + str(exc).splitlines()[0]
            row(phase.at, phase.name, what)
    return ok


def _phase(
    rt: Runtime, spec: Any, spec_path: Path, phase: Any, out: Path, rng: Any, translate: Callable[..., str]
) -> str:
    """Run one phase of the lifecycle at its time; what happened, in a few words."""
    slug = spec.slug
    if phase.name.startswith("reminder-"):
        result = send_reminder(slug, phase.parameters["reminder"])
        return translate(
            N_("%(sent)s reminders sent (%(waiting)s to the waiting list)"),
            sent=result["sent"],
            waiting=result["reminder-waitlisted"],
        )
    if phase.name == "registration-close":
        result = deliver_outbox(slug)
        return translate(N_("registration closed; %(sent)s emails left in the outbox sent"), sent=result["sent"])
    if phase.name == "recap":
        recap_file = EXAMPLES_DIR / "recaps" / spec_path.name
        if not recap_file.is_file():
            # the attendance list comes from the check-ins: it never waits for the organiser's outcomes
            shutil.copyfile(attendance_list(slug, blank=False), out / f"attendance-{slug}.pdf")
            return translate(N_("attendance-%(slug)s.pdf; no recap file in examples/recaps/: recap skipped"), slug=slug)
        result = recap_flow(slug, str(recap_file))
        shutil.copyfile(str(result["recap"]), out / f"recap-{slug}.pdf")
        shutil.copyfile(str(result["attendance"]), out / f"attendance-{slug}.pdf")
        return translate(
            N_("recap-%(slug)s.pdf (%(pages)s pages), attendance-%(slug)s.pdf; %(sent)s thank-you emails"),
            slug=slug,
            pages=result["pages"],
            sent=result["sent"],
        )
    if phase.name == "survey":
        opened = emails.open_survey(rt, slug, now=phase.at)
        sent = deliver(rt)
        answered = survey_answers.simulate_responses(rt, slug, rng)
        return (
            translate(N_("%(sent)s survey links sent; %(answered)s answered (simulated)"), sent=sent, answered=answered)
            if opened["audience"]
            else translate(N_("nobody checked in: no survey"))
        )
    if phase.name == "survey-reminder":
        reminded = emails.enqueue_reminders(rt, slug, now=phase.at)
        deliver(rt)
        return translate(N_("%(count)s survey reminders to those who have not answered"), count=reminded["reminded"])
    if phase.name == "evaluation":
        responses.close_survey(rt, slug, now=phase.at)
        outputs = evaluation.write_outputs(rt, slug, out_dir=out)
        if outputs is None:
            return translate(N_("no survey: nothing to evaluate"))
        return translate(
            N_("survey-%(slug)s.csv, evaluation-%(slug)s.pdf (%(responses)s responses of %(invited)s)"),
            slug=slug,
            responses=outputs.evaluation.responses,
            invited=outputs.evaluation.invited,
        )
    if phase.name == "purge":
        entry = retention.purge(rt, now=phase.at, slug=slug).events[0]
        if entry.stage == "not due":
            return translate(N_("not due yet"))
        return translate(
            N_(
                "personal data deleted: %(registrations)s registrations, %(emails)s emails emptied, "
                "%(kept)s attendance records kept for the funder until %(until)s"
            ),
            registrations=entry.counts.get("registrations_deleted", 0),
            emails=entry.counts.get("emails_blanked", 0),
            kept=entry.counts.get("registrations_kept_for_funder", 0),
            until=entry.funder_due.isoformat() if entry.funder_due else "–",
        )
    if phase.status == lifecycle.UNAVAILABLE:
        return translate(N_("not yet available"))
    return str(phase.status)


SESSION_IDEAS = [
    ("Partnerschaften verjüngen", "Wie gewinnen wir junge Menschen für die Städtepartnerschaft?"),
    ("Fördertöpfe für Begegnungen", "Erfahrungen mit EU- und Landesprogrammen, Antragstipps"),
    ("Social Media für kleine Vereine", "Was wirkt mit wenig Zeit? Beispiele und Werkzeuge"),
    ("Begegnungen barrierefrei planen", "Gebärdensprache, Assistenz, leichte Sprache auf Reisen"),
    ("Schulpartnerschaften", "Austausch von Klassen organisieren, Versicherung, Unterkunft"),
    ("Jubiläen feiern", "Ideen für 50 Jahre Partnerschaft"),
]
# what the hosts write on their session's notes page after it (the recap shows it under the grid)
SESSION_NOTES = {
    "Partnerschaften verjüngen": (
        "Junge Menschen kommen über konkrete Projekte: Schüleraustausch, Praktika im Partnerort, ein "
        "Jugendteam mit eigenem Budget. Mitgliedschaft folgt später – oder gar nicht, und das ist in Ordnung."
    ),
    "Fördertöpfe für Begegnungen": (
        "Mit dabei war die Transformationsstelle der VDFG. Vorgestellt wurden Förderprogramme für "
        "Bürgerbegegnungen und Jugendaustausche; Links zu den Programmen stehen auf der Website "
        "Städtepartnerschaften."
    ),
    "Social Media für kleine Vereine": (
        "- ein Kanal, den der Verein wirklich pflegt, statt vier halbe\n"
        "- Fotos nur mit Einverständnis der Abgebildeten\n"
        "- Beiträge der Partnerstadt teilen und übersetzen"
    ),
}


def _plan_sessions(rt: Runtime, spec: Any, out: Path, rng: Any, translate: Callable[..., str]) -> str:
    """The morning of an event with a session grid: participants propose sessions and mark what interests them
    on the board, the organisers plan and publish the grid; everyone gets the plan, the wall gets the poster."""
    slug = spec.slug
    with rt.store.session() as session:
        event = find_event(session, slug)
        placed = session.scalars(
            select(Registration).where(Registration.event_id == event.id, Registration.status == "registered")
        ).all()
        tokens = [rules.manage_token(rt, r) for r in placed]
    proposed = [
        propose(rt, slug, token, title, text) for token, (title, text) in zip(tokens, SESSION_IDEAS, strict=False)
    ]
    for token in tokens:
        for proposal in proposed:
            if rng.random() < 0.35:
                set_interest(rt, slug, token, str(proposal), True)
    planned = plan(rt, slug)
    publish(rt, slug, now=spec.start)
    for proposal, (title, _text) in zip(proposed, SESSION_IDEAS, strict=False):
        if title in SESSION_NOTES:  # a host opens the personal notes link from the plan email
            token = notes_link(rt, slug, proposal).split("?t=", 1)[1]
            save_notes(rt, slug, proposal, token, SESSION_NOTES[title])
    enqueue_plan_emails(rt, slug, now=spec.start)
    sent = deliver(rt)
    poster = plan_pdf(rt, slug, out=out / f"session-plan-{slug}.pdf")
    return translate(
        N_("%(placed)s sessions planned (%(served)s of %(interest)s interests served); %(sent)s plans sent; %(file)s"),
        placed=len(planned.placements),
        served=planned.served,
        interest=planned.interest,
        sent=sent,
        file=poster.name,
    )


def _assign_groups(rt: Runtime, spec: Any, translate: Callable[..., str]) -> str:
    """The event's working groups: everyone with a place into a group of their choice."""
    result = assign_working_groups(rt, spec.slug)
    return translate(
        N_("%(assigned)s assigned to working groups (%(first)s first choices), %(left)s without a group"),
        assigned=len(result.assignment),
        first=result.by_rank[0] if result.by_rank else 0,
        left=len(result.unassigned),
    )


def _export_person(
    rt: Runtime, address: str, out: Path, *, echo: Callable[[str], Any], translate: Callable[..., str]
) -> None:
    """What `eventkit person export` gives a person who asks what is stored about them (DSGVO Art. 15)."""
    target = out / "export-person.json"
    target.write_text(json.dumps(privacy.export_person(rt, address), ensure_ascii=False, indent=2), encoding="utf-8")
    echo(translate(N_("What is stored about one attendee (eventkit person export): %(file)s"), file=str(target)))

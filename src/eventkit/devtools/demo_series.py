"""The demo's recurring meeting: the example series stored, its invitation to the members, its first meetings
as events with their own invitations, one member registering, and one meeting moved by the organiser."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from eventkit.core.errors import N_
from eventkit.devtools.mailbox import deliver, invitation_tokens
from eventkit.model.registration_form import RegistrationInput
from eventkit.model.series import Moved, occurrences
from eventkit.model.series_file import load_series
from eventkit.registration import desk
from eventkit.runtime import Runtime
from eventkit.series.emails import series_facts
from eventkit.series.series_calendar import SeriesInvite
from eventkit.series.stored import load_stored, store_series
from flows.series import plan_series, send_series_invitation, update_series

SERIES_FILE = Path("series") / "plenum-buendnis.yaml"
HORIZON_DAYS = 200  # the weekly plan-series run's look ahead, in the demo: the first two meetings


def run_series(
    rt: Runtime, examples: Path, out: Path, *, echo: Callable[[str], Any], translate: Callable[..., str]
) -> bool:
    """Returns whether every run succeeded. The clock stands six weeks before the first meeting."""
    series = load_series(examples / SERIES_FILE, rt.settings.template_dir)
    now = series.template.start.astimezone(UTC) - timedelta(days=42)
    store_series(rt.settings, series)
    language = series.template.language
    echo(translate(N_("A recurring meeting (series %(slug)s):"), slug=series.slug))

    def row(at: datetime, what: str) -> None:
        echo(f"    {at.astimezone(series.tz).strftime('%Y-%m-%d %H:%M')}  {what}")

    every = occurrences(series, include_skipped=True)
    echo("  " + translate(N_("%(count)s meetings (RRULE %(rule)s):"), count=len(every), rule=series.rrule))
    for occ in every:
        note = translate(N_("skipped")) if occ.skipped else translate(N_("moved")) if occ.moved else ""
        row(occ.start, f"{occ.slug} {note}".rstrip())

    ok = True
    state = send_series_invitation(series.slug, now=now, return_state=True)
    ok &= state.is_completed()
    sent = state.result()["sent"] if state.is_completed() else 0
    echo("  " + translate(N_("series invitation (one calendar with RRULE and exceptions): %(sent)s members"),
                          sent=sent))  # fmt: skip
    state = plan_series(series.slug, horizon_days=HORIZON_DAYS, now=now, return_state=True)
    ok &= state.is_completed()
    planned: list[str] = cast(dict[str, Any], state.result())["planned"] if state.is_completed() else []
    echo("  " + translate(N_("plan-series: %(count)s meetings as events, each with its own invitations: %(slugs)s"),
                          count=len(planned), slugs=", ".join(planned)))  # fmt: skip
    if not planned:
        return False

    # a member registers for the first meeting with the link of its invitation: the confirmation's calendar
    # object is that meeting's instance of the series they hold, not a second entry
    first = planned[0]
    member = series.members[1]
    token = invitation_tokens(rt, first).get(member.email)
    data = RegistrationInput(member.name, member.email, member.organisation, member.language, {})
    outcome = desk.submit(rt, first, data, invitation_token=token, now=now + timedelta(days=2))
    deliver(rt)
    echo("  " + translate(N_("%(name)s registers for %(slug)s: %(status)s"), name=member.name, slug=first,
                          status=outcome.status))  # fmt: skip

    # the organiser moves the second meeting by a week (the series file's exceptions, then series update)
    second = next(o for o in every if o.slug == planned[-1])
    moved = Moved(
        second.recurrence_id.date(),
        second.start + timedelta(days=7),
        second.end + timedelta(days=7),
        second.venue if second.moved else None,
    )
    changed = dataclasses.replace(
        series, moved=tuple(m for m in series.moved if m.original != moved.original) + (moved,)
    )
    done = update_series(rt, changed)
    ok &= not done["failed_runs"]
    echo("  " + translate(N_("%(slug)s moved to %(day)s: the calendars of %(written)s members updated (that "
                             "meeting alone); meetings changed: %(meetings)s"), slug=second.slug,
                          day=moved.start.strftime("%Y-%m-%d"), written=done["written"],
                          meetings=len(done["meetings"])))  # fmt: skip

    stored = load_stored(rt.settings, series.slug)
    ics = SeriesInvite(stored.series, series_facts(rt, stored, language), "PUBLISH").without_attendee()
    path = out / f"series-{series.slug}.ics"
    path.write_bytes(ics)
    echo("  " + translate(N_("the series' calendar (as published): %(path)s"), path=str(path)))
    return ok

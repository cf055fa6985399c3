"""An event's lifecycle as a timeline: which phase runs when, by which deployment, from the format's offsets."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from eventkit.model.formats import Format
from eventkit.model.spec import EventSpec

REMINDER_DEPLOYMENT = "send-reminder/send-reminder"
DELIVERY_DEPLOYMENT = "deliver-outbox/deliver-outbox"
# the phases after the event, counted from its end (format.yaml `phases`), and the deployment that runs each;
# None while no flow exists for a phase
LATER_PHASES: dict[str, str | None] = {
    "recap": "recap/recap",
    "survey": "send-survey/send-survey",
    "survey_reminder": "send-survey-reminder/send-survey-reminder",
    "evaluation": "evaluate-survey/evaluate-survey",
    "purge": "purge-personal-data/purge-personal-data",
}

# what became of a phase when the lifecycle ran
PLANNED = "planned"  # not scheduled yet (the lifecycle has not run, or only the plan was asked for)
SCHEDULED = "scheduled"  # a scheduled flow run of its deployment exists
PAST = "past"  # its time had passed when the lifecycle ran: nothing scheduled
UNAVAILABLE = "unavailable"  # no flow exists for this phase yet
NOT_DEPLOYED = "not-deployed"  # the Prefect server knows no such deployment (embedded run, or deploy missing)


@dataclass(frozen=True)
class Phase:
    name: str  # reminder-7d, registration-close, recap, ...
    at: datetime  # aware, UTC
    deployment: str | None  # "flow/deployment", None while no flow exists for the phase
    parameters: dict[str, Any] = field(default_factory=dict)
    status: str = PLANNED
    flow_run_id: str | None = None

    def run_name(self, slug: str) -> str:
        return f"{self.name.replace('-', ' ')} · {slug}"

    def idempotency_key(self, slug: str, sequence: int) -> str:
        """One run per phase of one version of the event: a second trigger finds the run the first one made."""
        return f"{slug}:{self.name}:{sequence}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "scheduled_time": self.at.isoformat(),
            "deployment": self.deployment,
            "parameters": self.parameters,
            "status": self.status,
            "flow_run_id": self.flow_run_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Phase:
        return cls(
            name=data["phase"],
            at=datetime.fromisoformat(data["scheduled_time"]),
            deployment=data.get("deployment"),
            parameters=dict(data.get("parameters") or {}),
            status=data.get("status", PLANNED),
            flow_run_id=data.get("flow_run_id"),
        )


def format_duration(offset: timedelta) -> str:
    """The inverse of formats.parse_duration: 7d, 1d12h, 90 minutes as 1h30m."""
    minutes = int(offset.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return text or "0m"


def registration_closes(spec: EventSpec, fmt: Format) -> datetime:
    if spec.registration_deadline is not None:
        return spec.registration_deadline
    return spec.start - fmt.phases.get("registration_close", timedelta(0))


def plan(spec: EventSpec, fmt: Format, now: datetime | None = None) -> list[Phase]:
    """Every phase after the invitations, in time order; phases whose time has passed are marked PAST."""
    slug = spec.slug
    phases = [
        Phase(
            f"reminder-{format_duration(offset)}",
            spec.start - offset,
            REMINDER_DEPLOYMENT,
            {"slug": slug, "reminder": format_duration(offset)},
        )
        for offset in fmt.reminders
    ]
    # the last sweep of the registration emails: what came in just before the deadline leaves before it closes
    phases.append(Phase("registration-close", registration_closes(spec, fmt), DELIVERY_DEPLOYMENT, {"slug": slug}))
    phases += [
        Phase(name.replace("_", "-"), spec.end + fmt.phases[name], deployment, {"slug": slug})
        for name, deployment in LATER_PHASES.items()
        if name in fmt.phases
    ]
    now = now or datetime.now(UTC)
    timeline = []
    for phase in sorted(phases, key=lambda p: p.at):
        phase = replace(phase, at=phase.at.astimezone(UTC))
        if phase.deployment is None:
            phase = replace(phase, status=UNAVAILABLE)
        elif phase.at <= now:
            phase = replace(phase, status=PAST)
        timeline.append(phase)
    return timeline


def timeline_markdown(slug: str, timezone: str, timeline: list[Phase]) -> str:
    """The lifecycle artifact: phases, times, deployments and runs, no personal data."""
    zone = ZoneInfo(timezone)
    lines = [
        f"# Lifecycle · {slug}",
        "",
        f"| phase | time ({timezone}) | deployment | status | flow run |",
        "|---|---|---|---|---|",
    ]
    for phase in timeline:
        when = phase.at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines.append(
            f"| {phase.name} | {when} | {phase.deployment or '–'} | {phase.status} | {phase.flow_run_id or '–'} |"
        )
    return "\n".join(lines) + "\n"

"""Sample data, so that every email of every format can be previewed without a real event."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from eventkit.core.validation import Problems
from eventkit.events.events import event_view
from eventkit.mail.compose import Recipient
from eventkit.model.formats import Format, discover
from eventkit.model.spec import EventSpec, Venue, validate_spec

SAMPLE_RECIPIENT = Recipient("Yasemin Şahin-Müller", "yasemin.sahin@example.org", "Interkultureller Verein e.V.")

# Answers to the registration fields of _base and the three formats, as a person might give them:
# a tuple names options of the field, a dict is a text in each language, a str is the same in both
# (the working groups are the organiser's own words).
SAMPLE_ANSWERS: dict[str, tuple[str, ...] | dict[str, str] | str] = {
    "support_needs": ("sign_language", "step_free"),
    "interpreting_language": {"de": "Arabisch", "en": "Arabic"},
    "support_other": {
        "de": "Ich komme mit meiner Assistenz, Дмитрий Иванов.",
        "en": "I am coming with my personal assistant, Дмитрий Иванов.",
    },
    "dietary": ("vegetarian", "halal"),
    "photo_consent": {"de": "ja", "en": "yes"},
    "represented": "Interkultureller Verein e.V., Bündnis „Gifhorn ist bunt“",
    "session_title": {"de": "Mehrsprachige Elternarbeit", "en": "Working with parents in several languages"},
    "working_group_first": "Bildung",
    "working_group_second": "Arbeit",
    "presentation": {"de": "ja", "en": "yes"},
}


def sample_spec(template_dir: Path, format_name: str) -> EventSpec:
    fmt = discover(template_dir)[format_name]
    day = date.today() + timedelta(days=42)
    data: dict[str, Any] = {
        "title": f"{fmt.title.get('de')} {day.year} – Beispiel",
        "format": format_name,
        "start": f"{day.isoformat()}T10:00",
        "timezone": "Europe/Berlin",
        "language": "de",
        "venue": {
            "name": "Stadtteilzentrum Mitte",
            "address": "Marktplatz 1, 38518 Gifhorn",
            "accessibility": "Stufenlos erreichbar, barrierefreies WC im Erdgeschoss",
            "directions": "Bus 110 bis Haltestelle Marktplatz",
        },
        "organiser": {"name": "Beispielnetzwerk e.V.", "email": "kontakt@example.org"},
        "capacity": 40,
        "registration_deadline": (day - timedelta(days=7)).isoformat() + "T23:59",
        "funding": "Gefördert im Rahmen des Bundesprogramms „Demokratie leben!“",
    }
    if "working_groups" in fmt.spec_fields:
        data["working_groups"] = ["Bildung", "Kinder und Jugend", "Arbeit", "Verwaltung"]
    if "rounds" in fmt.spec_fields:
        data["rounds"] = 2
    if "tables" in fmt.spec_fields:
        data["tables"] = 4
    return validate_spec(data, template_dir, Problems("<sample>"))


def sample_answers(fmt: Format, language: str) -> list[tuple[str, str]]:
    """A filled-in registration as the confirmation emails list it: (question, answer) in `language`."""
    summary = []
    for field in fmt.registration_fields:
        answer = SAMPLE_ANSWERS.get(field.name)
        if isinstance(answer, tuple):
            options = dict(field.options)
            value = ", ".join(options[o].get(language) for o in answer if o in options)
        elif isinstance(answer, dict):
            value = answer.get(language, answer["de"])
        else:
            value = answer or ""
        if value:
            summary.append((field.label.get(language), value))
    return summary


SAMPLE_CANCELLATION = {
    "de": "Wegen einer Unwetterwarnung für den ganzen Landkreis sagen wir das Treffen ab. Ein neuer Termin folgt.",
    "en": "Because of a severe weather warning for the whole district we are cancelling the meeting. "
    "A new date will follow.",
}


def sample_context(template_dir: Path, format_name: str, language: str, base_url: str) -> dict[str, Any]:
    fmt = discover(template_dir)[format_name]
    spec = sample_spec(template_dir, format_name)
    recipient = Recipient(SAMPLE_RECIPIENT.name, SAMPLE_RECIPIENT.email, SAMPLE_RECIPIENT.organisation, language)
    now = datetime.now(spec.start.tzinfo).replace(minute=0, second=0, microsecond=0)
    return {
        "event": event_view(spec, fmt),
        "format": SimpleNamespace(
            name=fmt.name, title=fmt.title.get(language), description=fmt.description.get(language)
        ),
        "recipient": recipient,
        "links": SimpleNamespace(
            register=f"{base_url}/e/{spec.slug}/register?t=SAMPLE-TOKEN",
            event=f"{base_url}/e/{spec.slug}",
            manage=f"{base_url}/e/{spec.slug}/manage?t=SAMPLE-MANAGE-TOKEN",
            confirm=f"{base_url}/e/{spec.slug}/confirm?t=SAMPLE-CONFIRM-TOKEN",
            ics=f"{base_url}/e/{spec.slug}/event.ics",
        ),
        # one registration serves every registration email; only the waiting-list email shows position
        "registration": SimpleNamespace(
            status="registered", answers_summary=sample_answers(fmt, language), position=3, calendar_attached=True
        ),
        "optin_expires": now + timedelta(days=2),
        # the survey emails: the personal survey link, open for two weeks after the event
        "survey": SimpleNamespace(
            link=f"{base_url}/e/{spec.slug}/survey?t=SAMPLE-SURVEY-TOKEN",
            closes_at=spec.end + timedelta(days=14),
            questions=len(fmt.survey),
        ),
        # the thank-you email after the event: the recap attached (a larger one is a personal link instead)
        "recap": SimpleNamespace(
            attached=True, link=f"{base_url}/e/{spec.slug}/recap.pdf?t=SAMPLE-RECAP-TOKEN", filename="Bericht.pdf"
        ),
        # the reminder emails: the format's last reminder before the start ("1d" by default)
        "reminder": SimpleNamespace(label="1d", offset=timedelta(days=1), days_before=1),
        # the change emails: the event was a week earlier at another place; the organisers' note on a cancellation
        "change": SimpleNamespace(
            before=SimpleNamespace(
                start=spec.start - timedelta(days=7),
                end=spec.end - timedelta(days=7),
                venue=Venue(name="Bürgerhaus am Markt", address="Am Markt 3, 38518 Gifhorn"),
                online_url=None,
                title=spec.title,
                days=[day - timedelta(days=7) for day in spec.days],
            ),
            changed=["start", "end", "venue"],
            reason=SAMPLE_CANCELLATION[language],
            # the series-update email: one meeting of a series moved by a week, another one skipped
            full=False,
            moved=[_sample_meeting(spec, 91, moved=True)],
            skipped=[_sample_meeting(spec, 182, skipped=True)],
        ),
        # the series emails: a meeting every three months, the next four listed
        "series": SimpleNamespace(
            rhythm=SAMPLE_RHYTHM[language],
            upcoming=[
                _sample_meeting(spec, 0),
                _sample_meeting(spec, 91, moved=True),
                _sample_meeting(spec, 182, skipped=True),
                _sample_meeting(spec, 273),
            ],
            more=2,
            until=None,
            usual_start=spec.start,
            usual_end=spec.end,
        ),
    }


SAMPLE_RHYTHM = {"de": "alle 3 Monate am zweiten Mittwoch", "en": "every 3 months on the second Wednesday"}


def _sample_meeting(spec: EventSpec, days: int, *, moved: bool = False, skipped: bool = False) -> SimpleNamespace:
    original = spec.start + timedelta(days=days)
    start = original + timedelta(days=7) if moved else original
    return SimpleNamespace(
        start=start, end=start + (spec.end - spec.start), venue=spec.venue, moved=moved, skipped=skipped,
        original=original,
    )  # fmt: skip

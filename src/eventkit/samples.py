"""Sample data, so that every email of every format can be previewed without a real event."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from eventkit.events import event_view
from eventkit.formats import discover
from eventkit.mail import Recipient
from eventkit.spec import EventSpec, validate_spec
from eventkit.validation import Problems

SAMPLE_RECIPIENT = Recipient("Yasemin Şahin-Müller", "yasemin.sahin@example.org", "Interkultureller Verein e.V.")


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


def sample_context(template_dir: Path, format_name: str, language: str, base_url: str) -> dict[str, Any]:
    fmt = discover(template_dir)[format_name]
    spec = sample_spec(template_dir, format_name)
    recipient = Recipient(SAMPLE_RECIPIENT.name, SAMPLE_RECIPIENT.email, SAMPLE_RECIPIENT.organisation, language)
    return {
        "event": event_view(spec, fmt),
        "format": SimpleNamespace(
            name=fmt.name, title=fmt.title.get(language), description=fmt.description.get(language)
        ),
        "recipient": recipient,
        "links": SimpleNamespace(
            register=f"{base_url}/e/{spec.slug}/register?t=SAMPLE-TOKEN",
            event=f"{base_url}/e/{spec.slug}",
        ),
    }

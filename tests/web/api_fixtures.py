"""Helpers of the JSON API tests: an event relative to today, the app served in process, counts of the store."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from eventkit.core.tokens import token_hash
from eventkit.db.store import Event, Invitation, OutboxMessage, Person, Registration
from eventkit.events.events import save_event
from eventkit.model.spec import EventSpec, parse_spec
from eventkit.runtime import Runtime
from eventkit.web.app import create_app
from tests.conftest import TEMPLATES, make_settings
from tests.test_spec import GOOD

ADMIN_TOKEN = "organisers-" + "x" * 24
JSON = {"content-type": "application/json"}


def event_spec(capacity: int | None = 40, *, days_ahead: int = 90, deadline_days_ahead: int | None = None) -> EventSpec:
    """The test spec moved to `days_ahead` days from today, so that it stays open whatever the date;
    `deadline_days_ahead` (negative: in the past) sets the registration deadline."""
    day = date.today() + timedelta(days=days_ahead)
    deadline = day + timedelta(days=-4 if deadline_days_ahead is None else deadline_days_ahead - days_ahead)
    text = (
        GOOD.replace("capacity: 40", f"capacity: {'null' if capacity is None else capacity}")
        .replace("start: 2027-11-20T12:00", f"start: {day.isoformat()}T12:00")
        .replace("end: 2027-11-20T17:00", f"end: {day.isoformat()}T17:00")
        .replace("registration_deadline: 2027-11-16T23:59", f"registration_deadline: {deadline.isoformat()}T23:59")
    )
    return parse_spec(text, TEMPLATES)


def body(email: str = "ada@example.org", **extra: Any) -> dict[str, Any]:
    """A valid registration body."""
    return {"name": "Ada Lovelace", "email": email, "organisation": "Verein e.V.", "privacy_consent": True, **extra}


@dataclass
class Api:
    rt: Runtime
    client: TestClient
    slug: str

    @property
    def url(self) -> str:
        return f"/api/events/{self.slug}/registrations"

    def register(self, data: Any, *, headers: dict[str, str] | None = None, slug: str | None = None) -> httpx2.Response:
        url = self.url if slug is None else f"/api/events/{slug}/registrations"
        return self.client.post(url, content=json.dumps(data), headers={**JSON, **(headers or {})})

    def invite(self, email: str, name: str = "Eingeladene Person") -> str:
        """An invitation as the invitation flow leaves it (only the token's keyed hash is stored); its token."""
        token = secrets.token_urlsafe(32)
        with self.rt.store.session() as session:
            event_id = session.scalar(select(Event.id).where(Event.slug == self.slug))
            person = Person(email=email, name=name, organisation=None, language="de")
            session.add(person)
            session.flush()
            digest = token_hash(self.rt.settings.secret_key, "register", token)
            session.add(Invitation(event_id=event_id, person_id=person.id, token_hash=digest, status="invited"))
        return token

    def counts(self) -> tuple[int, int, int]:
        """People, registrations and outbox rows in the store."""
        with self.rt.store.session() as session:
            return tuple(  # type: ignore[return-value]
                session.scalar(select(func.count()).select_from(model)) or 0
                for model in (Person, Registration, OutboxMessage)
            )

    def outbox(self, kind: str | None = None) -> list[OutboxMessage]:
        with self.rt.store.session() as session:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if kind:
                query = query.where(OutboxMessage.kind == kind)
            return list(session.scalars(query))

    def csrf(self, slug: str | None = None) -> str:
        """Opens the registration page (which sets the CSRF cookie) and answers its form's token."""
        page = self.client.get(f"/e/{slug or self.slug}/register")
        assert page.status_code == 200
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, "the registration form has no csrf_token field"
        return found.group(1)


@contextmanager
def serve(tmp_path: Path, database_url: str, *, spec: EventSpec | None = None, **env: str) -> Iterator[Api]:
    """The app with its lifespan (in-process email delivery) running, and one event in the store."""
    settings = make_settings(
        tmp_path,
        database_url,
        **{"EVENTKIT_RATE_LIMIT": "off", "EVENTKIT_ADMIN_TOKEN": ADMIN_TOKEN, **env},
    )
    rt = Runtime.from_settings(settings)
    try:
        spec = spec or event_spec()
        save_event(rt.store, settings, spec)
        with TestClient(create_app(rt), raise_server_exceptions=False) as client:
            yield Api(rt, client, spec.slug)
    finally:
        rt.store.dispose()

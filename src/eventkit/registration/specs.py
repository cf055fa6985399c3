"""The event as a registration reads it, cached on the runtime: its spec per version of the row, its form's fields."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Row as SqlRow

from eventkit.db.store import Event
from eventkit.events.events import EventNotFound, format_for
from eventkit.model.registration_form import form_fields
from eventkit.model.slug import is_slug
from eventkit.model.spec import EventSpec
from eventkit.registration.statements import EVENT_HEAD, EVENT_HEAD_LOCKED, EVENT_SPEC
from eventkit.runtime import Runtime, Slot

# what this runtime has read for registrations (asked for on every registration), each cleared when full:
# parsed specs by version of the event row, the version and spec of an event by slug as last seen
# (known_spec), and registration fields by spec
_SPECS: Slot[dict[tuple[int, Any], EventSpec]] = Slot("parsed event specs", lambda rt: {})
_KNOWN: Slot[dict[str, tuple[tuple[int, Any], EventSpec]]] = Slot("events as last seen", lambda rt: {})
_FIELDS: Slot[dict[tuple[str, str, str], list[Any]]] = Slot("registration fields", lambda rt: {})


def spec_of(rt: Runtime, event: Event) -> EventSpec:
    """The event's spec, parsed once per version of the event row (it is read on every registration)."""
    key = (event.id, event.updated_at)
    spec = rt.local(_SPECS).get(key)
    return spec if spec is not None else _remember(rt, key, event.spec)


def _remember(rt: Runtime, key: tuple[int, Any], data: dict[str, Any]) -> EventSpec:
    specs = rt.local(_SPECS)
    spec = specs.get(key)
    if spec is None:
        if len(specs) > 256:
            specs.clear()
        spec = specs[key] = EventSpec.from_data(data)
    return spec


def event_head(connection: Connection, slug: str, *, lock: bool = False) -> SqlRow[Any]:
    """The event's id, status and version (updated_at), row-locked with lock=True on PostgreSQL; its spec,
    a large JSON document, is read only when this process has not parsed that version yet (read_spec)."""
    if not is_slug(slug):
        raise EventNotFound(str(slug)[:100])
    head = connection.execute(EVENT_HEAD_LOCKED if lock else EVENT_HEAD, {"slug": slug}).first()
    if head is None:
        raise EventNotFound(slug)
    return head


def read_spec(rt: Runtime, connection: Connection, head: SqlRow[Any]) -> tuple[EventSpec, tuple[int, Any]]:
    """The spec of the event of `head`, and its version (the key of spec_of's cache)."""
    key = (head.id, head.updated_at)
    spec = rt.local(_SPECS).get(key)
    if spec is None:
        row = connection.execute(EVENT_SPEC, {"event_id": head.id}).one()
        key = (head.id, row.updated_at)
        spec = _remember(rt, key, row.spec)
    return spec, key


def event_spec(rt: Runtime, slug: str) -> EventSpec:
    """The spec of the event with this slug (EventNotFound if there is none)."""
    with rt.store.session() as session:
        connection = session.connection()
        return read_spec(rt, connection, event_head(connection, slug))[0]


def known_spec(rt: Runtime, slug: str, *, fresh: bool = False) -> tuple[tuple[int, Any], EventSpec]:
    """The version and spec of the event with this slug as this process last saw them (EventNotFound if there
    is none): without a query once seen, or read again with fresh=True. For checking a registration's input
    before desk.submit(checked_with=version), which raises SpecChanged when the event has changed since."""
    seen = rt.local(_KNOWN)
    known = None if fresh else seen.get(slug)
    if known is None:
        with rt.store.session() as session:
            connection = session.connection()
            spec, version = read_spec(rt, connection, event_head(connection, slug))
        known = (version, spec)
        if len(seen) > 1024:
            seen.clear()
        seen[slug] = known
    return known


def event_fields(rt: Runtime, spec: EventSpec) -> list[Any]:
    """The registration fields of an event (cached per spec: they are asked for on every registration)."""
    key = (spec.slug, spec.format, json.dumps(spec.extra, sort_keys=True, default=str))
    cached = rt.local(_FIELDS)
    fields = cached.get(key)
    if fields is None:
        if len(cached) > 256:
            cached.clear()
        fields = cached[key] = form_fields(format_for(rt.settings, spec.format), spec)
    return fields

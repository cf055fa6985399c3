"""The registration-table artifact: an event's registrations in figures, keyed per event so the UI keeps its history."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from eventkit import runtime
from eventkit.recap import figures


@task(name="registration-table", cache_policy=NO_CACHE)
def publish_registration_table(slug: str) -> list[dict[str, object]]:
    rows = figures.registration_table(runtime.get(), slug)
    placed = next(r["count"] for r in rows if r["what"] == "status: registered")
    create_table_artifact(
        key=f"registrations-{slug}",
        table=rows,
        description=f"Registrations of {slug} in figures ({placed} with a place); no names, no addresses",
    )
    return rows

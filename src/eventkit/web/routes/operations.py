"""For machines: the health check of load balancers and orchestrators, and robots.txt for crawlers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from eventkit import __version__
from eventkit.web.deps import WebDep

router = APIRouter()


@router.get("/healthz", include_in_schema=True, tags=["operations"])
def healthz(web: WebDep) -> Any:
    """Liveness and readiness: 200 when the store answers, 503 when it does not."""
    try:
        with web.rt.store.session() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    return {"status": "ok", "database": "ok", "delivery": web.pump.mode, "version": __version__}


@router.get("/robots.txt", include_in_schema=False)
def robots() -> PlainTextResponse:
    # pages that carry a personal link in their address
    personal = ("manage", "confirm", "cancel", "survey", "sessions")
    lines = ["User-agent: *", *(f"Disallow: /e/*/{page}" for page in personal), "Disallow: /u/", "Disallow: /admin"]
    return PlainTextResponse("\n".join(lines) + "\n")

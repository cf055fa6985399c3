"""Documents for attendees behind their personal link: the recap PDF when it was too large to attach."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from eventkit.core.i18n import gettext_for
from eventkit.recap import recap
from eventkit.web.app import Web

router = APIRouter(include_in_schema=False)


@router.get("/e/{slug}/recap.pdf", response_model=None)
def recap_pdf(request: Request, slug: str, t: str = "") -> Response:
    web: Web = request.app.state.web
    path = recap.document_for_token(web.rt, slug, t)
    if path is None:
        language = web.language(request)
        message = gettext_for(language).gettext("This personal link is not valid (any more).")
        return web.error_page(request, 404, message, language)
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=path.name,
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"},
    )

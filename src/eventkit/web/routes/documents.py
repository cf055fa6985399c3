"""Documents for attendees behind their personal link: the recap PDF when it was too large to attach."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response

from eventkit.core.errors import N_, UserError
from eventkit.recap import thanks
from eventkit.web.deps import WebDep

router = APIRouter(include_in_schema=False)


class InvalidDocumentLink(UserError):
    """A document link that matches no attendee's document."""

    message = N_("This personal link is not valid (any more).")
    status = 404


@router.get("/e/{slug}/recap.pdf", response_model=None)
def recap_pdf(slug: str, web: WebDep, t: str = "") -> Response:
    path = thanks.document_for_token(web.rt, slug, t)
    if path is None:
        raise InvalidDocumentLink()
    return FileResponse(
        path,
        media_type="application/pdf",
        filename=path.name,
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"},
    )

"""The session pages without a browser: the board behind the personal link, proposals and interest marks as
POSTs with CSRF, a GET that changes nothing, the plan page and poster, host notes, the organisers' page;
every wrong input a clear 4xx page, never a 500."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from eventkit.db.store import OutboxMessage, SessionInterest, SessionPlan, SessionProposal
from eventkit.model.spec import EventSpec
from eventkit.runtime import Runtime
from eventkit.sessions import board as session_board
from eventkit.sessions import planning
from eventkit.sessions.emails import KIND
from eventkit.sessions.notes import notes_link
from eventkit.sessions.proposals import propose
from eventkit.sessions.publish import publish
from eventkit.web import create_app
from tests.conftest import make_settings
from tests.test_sessions import BARCAMP, NETZWERKTREFFEN, PEOPLE, Someone, make_event, register
from tests.web.test_pages import csrf

ADMIN = "organiser-token-" + "x" * 24


@pytest.fixture
def rt(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    settings = make_settings(tmp_path, database_url, EVENTKIT_RATE_LIMIT="off", EVENTKIT_ADMIN_TOKEN=ADMIN)
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.store.dispose()


@pytest.fixture
def camp(rt: Runtime) -> tuple[EventSpec, list[Someone]]:
    spec = make_event(rt, BARCAMP)
    return spec, [register(rt, spec, *p) for p in PEOPLE]


@pytest.fixture
def client(rt: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(rt)) as c:
        yield c


def count(rt: Runtime, model: type) -> int:
    with rt.store.session() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def board(client: TestClient, slug: str, who: Someone, lang: str = "de") -> tuple[str, str]:
    page = client.get(f"/e/{slug}/sessions", params={"t": who.token, "lang": lang})
    assert page.status_code == 200
    return page.text, csrf(page.text)


def test_propose_and_mark_through_the_board(
    client: TestClient, rt: Runtime, camp: tuple[EventSpec, list[Someone]]
) -> None:
    spec, (ayse, dmitri, *_rest) = camp
    html, token = board(client, spec.slug, ayse)
    assert "Session vorschlagen" in html and 'name="title"' in html
    answer = client.post(
        f"/e/{spec.slug}/sessions",
        data={"csrf_token": token, "t": ayse.token, "lang": "de", "title": "Mehrsprachige Elternarbeit",
              "description": "Wie erreichen wir Eltern <b>ohne</b> Deutsch?"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "Ihre Session steht auf der Pinnwand" in page.text
    assert "Mehrsprachige Elternarbeit" in page.text and "Ayşe Yılmaz" in page.text
    assert "&lt;b&gt;ohne&lt;/b&gt;" in page.text and "<b>ohne" not in page.text  # escaped
    (proposal,) = session_board.board(rt, spec.slug)

    html, token = board(client, spec.slug, dmitri, "en")
    assert "I am interested" in html
    marked = client.post(
        f"/e/{spec.slug}/sessions/interest",
        data={"csrf_token": token, "t": dmitri.token, "lang": "en", "session": proposal.key, "interest": "yes"},
        follow_redirects=False,
    )
    assert marked.status_code == 303 and marked.headers["location"].endswith(f"#s-{proposal.id}")
    page = client.get(marked.headers["location"])
    assert "1 person interested" in page.text and "Remove my mark" in page.text
    unmarked = client.post(
        f"/e/{spec.slug}/sessions/interest",
        data={"csrf_token": token, "t": dmitri.token, "lang": "en", "session": proposal.key, "interest": "no"},
    )
    assert unmarked.status_code == 200 and "0 people interested" in unmarked.text


def test_a_get_changes_nothing(client: TestClient, rt: Runtime, camp: tuple[EventSpec, list[Someone]]) -> None:
    spec, (ayse, *_rest) = camp
    register(rt, spec, "claire@example.org", "Claire Martin", answers={"session_title": "Jumelage und Jugend"})
    for path in (
        f"/e/{spec.slug}/sessions?t={ayse.token}",
        f"/e/{spec.slug}/sessions?t={ayse.token}&title=x&session=1&interest=yes",
        f"/e/{spec.slug}/sessions",
        f"/e/{spec.slug}/plan",
        f"/e/{spec.slug}/plan.pdf",
        f"/e/{spec.slug}/sessions/1/notes?t=x",
    ):
        client.get(path)
    assert count(rt, SessionProposal) == 0 and count(rt, SessionInterest) == 0 and count(rt, SessionPlan) == 0
    # the registration's idea is on the board anyway
    assert "Jumelage und Jugend" in client.get(f"/e/{spec.slug}/sessions?t={ayse.token}").text


def test_without_a_link_the_board_is_read_only(
    client: TestClient, camp: tuple[EventSpec, list[Someone]], rt: Runtime
) -> None:
    spec, (ayse, *_rest) = camp
    propose(rt, spec.slug, ayse.token, "Sichtbarkeit", "")
    page = client.get(f"/e/{spec.slug}/sessions")
    assert page.status_code == 200
    assert "Sichtbarkeit" in page.text
    assert "Ayşe Yılmaz" not in page.text  # hosts' names only for people with a place
    assert "<form" not in page.text.split("<main", 1)[1]
    assert "persönlichen Link" in page.text


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        ({"t": "1.not-a-real-token-not-a-real-token"}, 404, "Dieser persönliche Link ist nicht (mehr) gültig"),
        ({"t": ""}, 404, "Dieser persönliche Link ist nicht (mehr) gültig"),
        ({"csrf_token": "forged"}, 400, "Das Formular ist abgelaufen"),
        ({"csrf_token": None}, 400, "Das Formular ist abgelaufen"),
    ],
)
def test_bad_links_and_forged_forms_are_clear_4xx(
    client: TestClient,
    rt: Runtime,
    camp: tuple[EventSpec, list[Someone]],
    data: dict[str, object],
    status: int,
    message: str,
) -> None:
    spec, (ayse, *_rest) = camp
    _html, token = board(client, spec.slug, ayse)
    form = {"csrf_token": token, "t": ayse.token, "lang": "de", "title": "Titel", "session": "1", "interest": "yes"}
    form.update(data)  # type: ignore[arg-type]
    form = {k: v for k, v in form.items() if v is not None}
    for path in (f"/e/{spec.slug}/sessions", f"/e/{spec.slug}/sessions/interest"):
        answer = client.post(path, data=form)
        assert answer.status_code == status, path
        assert message in answer.text
    assert count(rt, SessionProposal) == 0


def test_errors_are_named_at_their_fields_and_what_was_typed_stays(
    client: TestClient, rt: Runtime, camp: tuple[EventSpec, list[Someone]]
) -> None:
    spec, (ayse, *_rest) = camp
    _html, token = board(client, spec.slug, ayse)
    answer = client.post(
        f"/e/{spec.slug}/sessions",
        data={"csrf_token": token, "t": ayse.token, "lang": "de", "title": "", "description": "Дмитрий erzählt"},
    )
    assert answer.status_code == 422
    assert 'href="#field-title"' in answer.text and "Titel der Session: ist erforderlich" in answer.text
    assert 'aria-invalid="true"' in answer.text and 'id="error-title"' in answer.text
    assert "Дмитрий erzählt" in answer.text
    english = client.post(
        f"/e/{spec.slug}/sessions",
        data={"csrf_token": token, "t": ayse.token, "lang": "en", "title": "x" * 151},
    )
    assert (
        english.status_code == 422 and "Title of the session: is too long (151 characters, at most 150)" in english.text
    )
    assert count(rt, SessionProposal) == 0


def test_people_without_a_place_and_unknown_sessions(
    client: TestClient, rt: Runtime, camp: tuple[EventSpec, list[Someone]]
) -> None:
    spec, (ayse, dmitri, *_rest) = camp
    _html, token = board(client, spec.slug, dmitri)
    from eventkit.registration import cancellation

    cancellation.cancel(rt, spec.slug, dmitri.token)
    answer = client.get(f"/e/{spec.slug}/sessions", params={"t": dmitri.token})
    assert answer.status_code == 403 and "Nur Personen mit einem Platz" in answer.text
    answer = client.post(f"/e/{spec.slug}/sessions", data={"csrf_token": token, "t": dmitri.token, "title": "X"})
    assert answer.status_code == 403
    for key in ("999", "r999", "abc", "1" * 40, ""):
        answer = client.post(
            f"/e/{spec.slug}/sessions/interest",
            data={"csrf_token": token, "t": ayse.token, "session": key, "interest": "yes"},
        )
        assert answer.status_code == 404 and "keine solche Session" in answer.text
    answer = client.post(
        f"/e/{spec.slug}/sessions/interest",
        data={"csrf_token": token, "t": ayse.token, "session": "1", "interest": "?"},
    )
    assert answer.status_code == 400
    assert client.get("/e/no-such-event/sessions").status_code == 404
    assert client.get("/e/%00/sessions").status_code == 404


def test_formats_without_a_board(client: TestClient, rt: Runtime) -> None:
    spec = make_event(rt, NETZWERKTREFFEN)
    answer = client.get(f"/e/{spec.slug}/sessions")
    assert answer.status_code == 404 and "keine Session-Pinnwand" in answer.text


def login(client: TestClient) -> None:
    client.headers["Authorization"] = f"Bearer {ADMIN}"


def admin_csrf(client: TestClient, slug: str) -> str:
    page = client.get(f"/admin/events/{slug}/sessions")
    assert page.status_code == 200
    return csrf(page.text)


def test_the_organiser_plans_moves_freezes_publishes_and_sends(
    client: TestClient, rt: Runtime, camp: tuple[EventSpec, list[Someone]]
) -> None:
    spec, (ayse, dmitri, mohammed, gisela, _olena) = camp
    assert client.get(f"/admin/events/{spec.slug}/sessions").status_code == 401  # not signed in
    ids = [
        propose(rt, spec.slug, ayse.token, "Elternarbeit", ""),
        propose(rt, spec.slug, dmitri.token, "Fördermittel", ""),
        propose(rt, spec.slug, gisela.token, "Social Media", ""),
    ]
    session_board.set_interest(rt, spec.slug, mohammed.token, str(ids[0]), True)
    login(client)
    token = admin_csrf(client, spec.slug)
    base = f"/admin/events/{spec.slug}/sessions"

    bad = client.post(f"{base}/grid", data={"csrf_token": token, "rounds": "16:50-17:50\nspäter", "rooms": "Saal"})
    assert bad.status_code == 422
    assert "Runden: Zeile 2" in bad.text and "Räume oder Tische: Zeile 1" in bad.text
    assert "später" in bad.text  # what was typed stays
    grid = client.post(
        f"{base}/grid",
        data={"csrf_token": token, "rounds": "16:50-17:50\n18:05-19:05", "rooms": "Lesesaal, 20\nCafé, 6"},
        follow_redirects=False,
    )
    assert grid.status_code == 303
    assert client.post(f"{base}/plan", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    page = client.get(base)
    assert "Entwurf" in page.text and "Elternarbeit" in page.text
    draft = planning.draft(rt, spec.slug)
    assert len(draft.placements) == 3

    moved = client.post(
        f"{base}/move", data={"csrf_token": token, "session": str(ids[2]), "slot": "1|Café"}, follow_redirects=False
    )
    assert moved.status_code == 303
    assert planning.draft(rt, spec.slug).placements[ids[2]].room == "Café"
    assert ids[2] in planning.draft(rt, spec.slug).frozen
    outside = client.post(f"{base}/move", data={"csrf_token": token, "session": str(ids[2]), "slot": "7|Café"})
    assert outside.status_code == 422 and "ist kein Platz im Raster" in outside.text
    unknown = client.post(f"{base}/move", data={"csrf_token": token, "session": "4711", "slot": "0|Café"})
    assert unknown.status_code == 404
    assert (
        client.post(f"{base}/freeze", data={"csrf_token": token, "session": str(ids[2]), "frozen": "0"}).status_code
        == 200
    )
    assert ids[2] not in planning.draft(rt, spec.slug).frozen
    assert client.post(f"{base}/plan", data={"csrf_token": "forged"}).status_code == 400

    published = client.post(f"{base}/publish", data={"csrf_token": token, "send": "on"}, follow_redirects=False)
    assert published.status_code == 303
    again = client.post(f"{base}/publish", data={"csrf_token": token, "send": "on"}, follow_redirects=False)
    assert again.status_code == 303
    with rt.store.session() as session:
        kinds = session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.kind == KIND)).all()
    assert sorted(kinds) == sorted(p[0] for p in PEOPLE)  # everyone once, though published twice
    page = client.get(base)
    assert "Version 1" in page.text


def test_plan_page_and_poster(client: TestClient, rt: Runtime, camp: tuple[EventSpec, list[Someone]]) -> None:
    spec, (ayse, *_rest) = camp
    answer = client.get(f"/e/{spec.slug}/plan")
    assert answer.status_code == 404 and "noch nicht veröffentlicht" in answer.text
    assert client.get(f"/e/{spec.slug}/plan.pdf").status_code == 404
    propose(rt, spec.slug, ayse.token, "Elternarbeit", "")
    planning.plan(rt, spec.slug)
    publish(rt, spec.slug)
    page = client.get(f"/e/{spec.slug}/plan", params={"lang": "en"})
    assert page.status_code == 200
    assert '<th scope="col">Round 1<br><span class="time">16:50–17:50</span></th>' in page.text
    assert '<th scope="row">Lesesaal</th>' in page.text and "Elternarbeit" in page.text
    pdf = client.get(f"/e/{spec.slug}/plan.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf.content, capture_output=True, check=True).stdout.decode()
    assert "Sessionplan" in text and "Elternarbeit" in text and "Ayşe Yılmaz" in text


def test_host_notes_page(client: TestClient, rt: Runtime, camp: tuple[EventSpec, list[Someone]]) -> None:
    spec, (ayse, *_rest) = camp
    proposal_id = propose(rt, spec.slug, ayse.token, "Elternarbeit", "")
    link = notes_link(rt, spec.slug, proposal_id)
    path = link.removeprefix(rt.settings.base_url)
    page = client.get(path)
    assert page.status_code == 200 and "Notizen zu „Elternarbeit“" in page.text
    token = re.search(r"\?t=([^&]+)", path)
    assert token
    saved = client.post(
        f"/e/{spec.slug}/sessions/{proposal_id}/notes",
        data={
            "csrf_token": csrf(page.text),
            "t": token.group(1),
            "notes": "# Ergebnis\n\n<script>x</script> **Elterncafé**",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    shown = client.get(saved.headers["location"])
    assert "<strong>Elterncafé</strong>" in shown.text and "<script>x" not in shown.text
    assert "&lt;script&gt;" in shown.text
    # the manage token is no notes link; another session's link neither; ids that are no ids
    assert client.get(f"/e/{spec.slug}/sessions/{proposal_id}/notes", params={"t": ayse.token}).status_code == 404
    assert (
        client.get(f"/e/{spec.slug}/sessions/{proposal_id + 1}/notes", params={"t": token.group(1)}).status_code == 404
    )
    assert client.get(f"/e/{spec.slug}/sessions/abc/notes", params={"t": token.group(1)}).status_code == 404
    long = client.post(
        f"/e/{spec.slug}/sessions/{proposal_id}/notes",
        data={"csrf_token": csrf(page.text), "t": token.group(1), "notes": "x" * 20_001},
    )
    assert long.status_code == 422 and "Notizen: ist zu lang" in long.text
    forged = client.post(f"/e/{spec.slug}/sessions/{proposal_id}/notes", data={"t": token.group(1), "notes": "x"})
    assert forged.status_code == 400


def test_the_organiser_assigns_working_groups(client: TestClient, rt: Runtime) -> None:
    spec = make_event(rt, NETZWERKTREFFEN)
    for (address, name, lang), first in zip(PEOPLE, ["Bildung", "Bildung", "Bildung", "Wohnen", "Arbeit"], strict=True):
        register(
            rt, spec, address, name, lang, answers={"working_group_first": first, "working_group_second": "Arbeit"}
        )
    login(client)
    token = admin_csrf(client, spec.slug)
    answer = client.post(f"/admin/events/{spec.slug}/groups", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "Bildung (2)" in page.text and "Erstwunsch" in page.text and "Zweitwunsch" in page.text
    assert "Grid" not in page.text and "Raster" not in page.text  # a Netzwerktreffen has no session grid


ODD = ["", "0", "-1", "abc", "1|", "|Lesesaal", "99|Lesesaal", "0|" + "x" * 300, "\x00", "١٢", "1" * 40, "r", "r1"]


def test_odd_input_never_gives_a_server_error(
    client: TestClient, rt: Runtime, camp: tuple[EventSpec, list[Someone]]
) -> None:
    spec, (ayse, *_rest) = camp
    proposal_id = propose(rt, spec.slug, ayse.token, "Elternarbeit", "")
    _html, token = board(client, spec.slug, ayse)
    login(client)
    admin_token = admin_csrf(client, spec.slug)
    base = f"/admin/events/{spec.slug}/sessions"
    for value in ODD:
        for path, data in (
            (f"/e/{spec.slug}/sessions", {"csrf_token": token, "t": value, "title": value, "description": value}),
            (f"/e/{spec.slug}/sessions", {"csrf_token": token, "t": ayse.token, "title": value, "description": value}),
            (
                f"/e/{spec.slug}/sessions/interest",
                {"csrf_token": token, "t": ayse.token, "session": value, "interest": "yes"},
            ),
            (f"/e/{spec.slug}/sessions/{proposal_id}/notes", {"csrf_token": token, "t": value, "notes": value}),
            (f"{base}/move", {"csrf_token": admin_token, "session": str(proposal_id), "slot": value}),
            (f"{base}/move", {"csrf_token": admin_token, "session": value, "slot": "0|Lesesaal"}),
            (f"{base}/freeze", {"csrf_token": admin_token, "session": value, "frozen": value}),
            (f"{base}/grid", {"csrf_token": admin_token, "rounds": value, "rooms": value}),
        ):
            answer = client.post(path, data=data, follow_redirects=False)
            assert answer.status_code < 500, (path, data)
        odd = quote(value, safe="")
        for path in (f"/e/{spec.slug}/sessions?t={odd}", f"/e/{spec.slug}/sessions/{odd or 'x'}/notes?t={odd}"):
            assert client.get(path).status_code < 500, path
    assert client.post(f"{base}/publish", data={"csrf_token": admin_token}).status_code in (303, 409)

"""Fuzzing the registration endpoints (JSON and HTML form): whatever is sent, never a 5xx, every 422 names
fields, and the store changes only when a registration was accepted."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.api_fixtures import JSON, Api, body, serve

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
ALLOWED = {201, 409, 413, 415, 422, 429}
CORE = ["name", "email", "organisation", "privacy_consent", "language", "invitation_token"]

# any Unicode, control characters and lone surrogates (JSON's "\ud800" escapes) included
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(categories=["Cs", "Ll", "Cc"]), max_size=20),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=20),  # C0 and C1 controls, DEL
    st.sampled_from(["", " ", "\x00", "\n", "\r\n", "\u2028", "\ufeff", "on", "true", "de", "en", "null", "%s", "{}"]),
    st.builds(lambda c, n: c * n, st.sampled_from("aß𝔘 \x00"), st.integers(190, 20_000)),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**320),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 5e-324, 0.0, -0.0]),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
local_parts = st.text(alphabet=string.ascii_lowercase + string.digits + "._-+", min_size=1, max_size=20).filter(
    lambda s: s[0] not in "._-+" and s[-1] not in "._-+" and ".." not in s
)
emails = st.one_of(
    st.builds("{}@example.org".format, local_parts),
    st.builds("{}@bücher.example".format, local_parts),
    st.sampled_from(["Dmitri@Example.ORG", "δοκιμή@παράδειγμα.δοκιμή", "a@b", "@example.org", "a@@example.org"]),
)


@pytest.fixture(autouse=True)
def _background_randomness_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hypothesis manages the global `random` while it generates data, and calls it flaky when the state
    moves under it. In a whole test session the Prefect harness leaves its events client running in a
    background thread, whose websocket pings draw from the global `random`; they get their own generator."""
    import random

    import websockets.asyncio.connection

    monkeypatch.setattr(websockets.asyncio.connection, "random", random.Random())


@pytest.fixture
def fuzz_api(tmp_path: Path) -> Any:
    with serve(tmp_path, f"sqlite:///{tmp_path / 'fuzz.sqlite3'}") as api:
        yield api


def form_fields(api: Api) -> list[dict[str, Any]]:
    response = api.client.get(f"/api/events/{api.slug}/form")
    assert response.status_code == 200
    fields: list[dict[str, Any]] = response.json()["fields"]
    assert fields
    return fields


def good_value(field: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the format's field accepts, so that fuzzed bodies also reach the store."""
    options = [o["value"] for o in field["options"] or []]
    if field["type"] == "multichoice":
        return st.lists(st.sampled_from(options), unique=True)
    if field["type"] == "choice":
        return st.sampled_from(options)
    if field["type"] == "checkbox":
        return st.booleans()
    if field["type"] == "email":
        return emails
    return st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Zl", "Zp"]), max_size=50)


def check(api: Api, response: Any, before: tuple[int, int, int]) -> None:
    """The invariants of every answer of POST /api/events/{slug}/registrations."""
    assert response.status_code in ALLOWED, (response.status_code, response.text[:500])
    after = api.counts()
    data = response.json()
    if response.status_code == 201:
        assert data["status"] in ("pending", "registered", "waitlisted")
        assert isinstance(data["created"], bool)
        people, registrations, outbox = (a - b for a, b in zip(after, before, strict=True))
        assert people in (0, 1) and registrations in (0, 1)  # one person, one registration at most
        assert outbox in (0, 1)  # a new registration or a renewed request puts exactly one email out
        assert registrations <= outbox
    else:
        assert after == before, f"{response.status_code} changed the store: {before} -> {after}"
        if response.status_code == 422:
            detail = data["detail"]
            assert isinstance(detail, list) and detail, data
            for item in detail:
                assert set(item) == {"field", "message"}, item
                assert isinstance(item["field"], str) and item["field"], item
                assert isinstance(item["message"], str) and item["message"].strip(), item
        else:
            assert isinstance(data["detail"], str) and data["detail"], data


def encode(payload: Any, ascii_only: bool) -> bytes:
    """JSON as a client sends it: UTF-8, or ASCII with backslash-u escapes (the only way a lone surrogate travels)."""
    text = json.dumps(payload, ensure_ascii=ascii_only)
    return (
        text.encode("utf-8")
        if ascii_only
        else text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").encode("utf-8")
    )


def send(api: Api, payload: Any, ascii_only: bool) -> Any:
    return api.client.post(api.url, content=encode(payload, ascii_only), headers=JSON)


def test_arbitrary_json_bodies(fuzz_api: Api) -> None:
    @FUZZ
    @given(payload=json_values, ascii_only=st.booleans())
    def run(payload: Any, ascii_only: bool) -> None:
        before = fuzz_api.counts()
        check(fuzz_api, send(fuzz_api, payload, ascii_only), before)

    run()


def test_arbitrary_values_for_each_known_field(fuzz_api: Api) -> None:
    fields = form_fields(fuzz_api)
    known = CORE + [f["name"] for f in fields]
    good = {f["name"]: good_value(f) for f in fields}
    invited = "invited@example.org"
    token = fuzz_api.invite(invited)

    @st.composite
    def payloads(draw: st.DrawFn) -> dict[str, Any]:
        payload = body(draw(emails), name=draw(st.text(min_size=1, max_size=30).filter(str.strip)))
        if draw(st.booleans()):  # the invited person with their own link: a place, or the same place again
            payload.update(email=invited, invitation_token=token)
        for name in draw(st.lists(st.sampled_from(list(good)), unique=True, max_size=4)):
            payload[name] = draw(good[name])
        # each kind of damage half of the time at most, so that a good share of the bodies is accepted
        for name in draw(st.just([]) | st.lists(st.sampled_from(known), unique=True, max_size=3)):
            payload[name] = draw(json_values)
        for name in draw(st.just([]) | st.lists(st.sampled_from(known), unique=True, max_size=2)):
            payload.pop(name, None)
        if draw(st.booleans()):
            payload.update(draw(st.dictionaries(st.text(max_size=30), json_values, max_size=2)))
        return payload

    languages = st.sampled_from(["", "en", "de-DE,de;q=0.9", "fr, en;q=0.5", "*"]) | st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
    )

    @FUZZ
    @given(payload=payloads(), ascii_only=st.booleans(), accept_language=languages)
    def run(payload: dict[str, Any], ascii_only: bool, accept_language: str) -> None:
        before = fuzz_api.counts()
        headers = {**JSON, "accept-language": accept_language}
        response = fuzz_api.client.post(fuzz_api.url, content=encode(payload, ascii_only), headers=headers)
        check(fuzz_api, response, before)

    run()
    statuses = {
        send(fuzz_api, body(f"check-{n}@example.org", **{f: None for f in good}), True).status_code for n in range(2)
    }
    assert statuses == {201}  # the app is still answering normally after the run


def test_arbitrary_raw_bodies_and_content_types(fuzz_api: Api) -> None:
    content_types = st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "text/json",
            "",
            "multipart/form-data",
        ]
    )

    # large bodies built from a drawn head and filler: drawing 64 KiB byte by byte is slow
    large = st.builds(
        lambda head, fill, size: (head + fill * size)[:size],
        st.binary(max_size=50),
        st.binary(min_size=1, max_size=4),
        st.integers(60 * 1024, 70 * 1024),
    )

    @FUZZ
    @given(raw=st.binary(max_size=300) | large, content_type=content_types)
    def run(raw: bytes, content_type: str) -> None:
        before = fuzz_api.counts()
        response = fuzz_api.client.post(fuzz_api.url, content=raw, headers={"content-type": content_type})
        check(fuzz_api, response, before)

    run()


def test_arbitrary_slugs(fuzz_api: Api) -> None:
    @settings(FUZZ, max_examples=60)
    @given(raw=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=80))
    def run(raw: str) -> None:
        slug = quote(raw, safe="")
        for path in (f"/api/events/{slug}", f"/api/events/{slug}/form"):
            assert fuzz_api.client.get(path).status_code in (200, 404), path
        response = fuzz_api.register(body(), slug=slug)
        # a slug of dots is resolved as a path segment: /api/events/./registrations is a GET-only route
        assert response.status_code in (201, 404, 405), response.text[:300]

    run()


def test_arbitrary_html_form_posts(fuzz_api: Api) -> None:
    fields = form_fields(fuzz_api)
    known = ["name", "email", "organisation", "privacy_consent", "language", "lang", "t", "csrf_token"]
    known += [f["name"] for f in fields]
    # a browser sends a form as UTF-8: it cannot carry a lone surrogate (the JSON fuzz covers those)
    form_texts = (st.text(alphabet=st.characters(codec="utf-8"), max_size=60) | texts).map(
        lambda t: t.encode("utf-8", "replace").decode("utf-8")
    )
    form_values = form_texts | st.lists(form_texts, min_size=2, max_size=4)
    # a non-ASCII csrf_token is a known 500 (test_a_non_ascii_csrf_token_is_400); ASCII ones keep finding others
    ascii_texts = st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=80)

    @st.composite
    def forms(draw: st.DrawFn) -> dict[str, Any]:
        form: dict[str, Any] = {"name": "Ada", "email": draw(emails), "privacy_consent": "on"}
        for name in draw(st.lists(st.sampled_from(known), unique=True, max_size=5)):
            form[name] = draw(ascii_texts if name == "csrf_token" else form_values)
        for name in draw(st.lists(st.sampled_from(known), unique=True, max_size=2)):
            form.pop(name, None)
        extra = st.text(min_size=1, max_size=20).filter(lambda k: k != "csrf_token")
        form.update(draw(st.dictionaries(extra, form_values, max_size=3)))
        return form

    token = fuzz_api.csrf()

    @FUZZ
    @given(form=forms(), keep_csrf=st.sampled_from([True, True, True, False]), multipart=st.booleans())
    def run(form: dict[str, Any], keep_csrf: bool, multipart: bool) -> None:
        if keep_csrf:
            form["csrf_token"] = token
        before = fuzz_api.counts()
        url = f"/e/{fuzz_api.slug}/register"
        if multipart:
            files = [(k, (None, v)) for k, vs in form.items() for v in (vs if isinstance(vs, list) else [vs])]
            response = fuzz_api.client.post(url, files=files, follow_redirects=False)
        else:
            response = fuzz_api.client.post(url, data=form, follow_redirects=False)
        assert response.status_code in (303, 400, 409, 422, 429), (response.status_code, response.text[:500])
        after = fuzz_api.counts()
        if response.status_code != 303:
            assert after == before, f"{response.status_code} changed the store"
        else:
            assert after[1] - before[1] in (0, 1) and after[0] - before[0] in (0, 1)

    run()


def test_a_non_ascii_csrf_token_is_400(fuzz_api: Api) -> None:
    fuzz_api.csrf()  # the cookie
    form = {"name": "Ada", "email": "ada@example.org", "privacy_consent": "on", "csrf_token": "\x80"}
    assert fuzz_api.client.post(f"/e/{fuzz_api.slug}/register", data=form).status_code == 400

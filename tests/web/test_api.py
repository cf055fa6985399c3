"""The JSON API as its users see it: register (201, 422 per field, 404, 409, 413, 415, 429), the organisers'
list behind the bearer token, the OpenAPI document and the health check, on SQLite and PostgreSQL."""

from __future__ import annotations

import email
import json
import os
import time
from email import policy
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.web.api_fixtures import ADMIN_TOKEN, JSON, Api, body, event_spec, serve

REGISTRATIONS = "/api/events/{slug}/registrations"


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Any:
    with serve(tmp_path, database_url) as a:
        yield a


def field_errors(response: Any) -> dict[str, str]:
    """The 422 body as {field: message}, after checking its documented shape."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail
    for item in detail:
        assert set(item) == {"field", "message"}
        assert isinstance(item["field"], str) and item["field"]
        assert isinstance(item["message"], str) and item["message"]
    return {item["field"]: item["message"] for item in detail}


def wait_for_eml(directory: Path, recipient: str, timeout: float = 10.0) -> Any:
    """The .eml the in-process delivery writes for `recipient` (it runs in the app's background task)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(directory.glob("*.eml")) if directory.is_dir() else []:
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if recipient in str(msg["To"]):
                return msg
        time.sleep(0.05)
    raise AssertionError(f"no email to {recipient} in {directory} after {timeout} s")


# --- 201 -----------------------------------------------------------------------------------------------


def test_public_registration_is_pending_and_sends_an_opt_in_email(api: Api) -> None:
    response = api.register(body("ada@example.org"))
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["status"] == "pending"
    assert data["created"] is True
    assert data["position"] is None
    assert data["message"]
    optin = api.outbox("registration-optin")
    assert [m.recipient for m in optin] == ["ada@example.org"]
    delivered = wait_for_eml(api.rt.settings.mail_dir, "ada@example.org")
    text = delivered.get_body(("plain",))
    assert text is not None and f"/e/{api.slug}/confirm?t=" in text.get_content()


def test_the_app_sends_its_emails_from_a_process_of_its_own(api: Api) -> None:
    """Rendering and sending run in a child process of the app (the same code as the delivery flow), so
    that they never take the app's interpreter from the pages; the email arrives all the same."""
    token = api.invite("child@example.org")
    response = api.register(body("child@example.org", invitation_token=token))
    assert response.status_code == 201 and response.json()["status"] == "registered"
    delivered = wait_for_eml(api.rt.settings.mail_dir, "child@example.org", timeout=30)
    assert delivered["Subject"]
    pump = api.client.app.state.web.pump  # type: ignore[attr-defined]
    assert pump.in_child
    deadline = time.monotonic() + 10  # the child's report comes back a moment after the file is written
    while pump.delivered.sent < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pump.delivered.sent >= 1
    assert pump.delivered_by not in (None, os.getpid())


def test_the_delivery_process_is_up_once_the_app_has_started(api: Api) -> None:
    """Starting the delivery process takes a moment (the first time, a new interpreter): the app does it before
    it answers, not when the first registration's email is due (which held registrations up for a second)."""
    pump = api.client.app.state.web.pump  # type: ignore[attr-defined]
    assert pump.in_child and pump.delivered.sent == 0  # nothing delivered yet
    assert pump.delivered_by is not None and pump.delivered_by != os.getpid()
    os.kill(pump.delivered_by, 0)  # a running process (raises if there is none)


def test_invitation_token_registers_at_once_and_a_repeat_changes_nothing(api: Api) -> None:
    token = api.invite("invited@example.org")
    first = api.register(body("invited@example.org", invitation_token=token))
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "registered"
    assert first.json()["created"] is True
    people, registrations, _outbox = api.counts()

    again = api.register(body("invited@example.org", invitation_token=token))
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "registered"
    assert again.json()["created"] is False
    assert api.counts()[:2] == (people, registrations)  # no second person, no second place
    assert len(api.outbox("registration-confirmed")) == 1


def test_someone_else_typing_a_registered_address_learns_nothing_and_takes_no_place(api: Api) -> None:
    token = api.invite("invited@example.org")
    assert api.register(body("invited@example.org", invitation_token=token)).json()["status"] == "registered"
    people, registrations, _outbox = api.counts()
    response = api.register(body("invited@example.org", name="Someone Else"))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"
    assert response.json()["created"] is False
    assert api.counts()[:2] == (people, registrations)


def test_a_token_for_another_address_is_a_public_registration(api: Api) -> None:
    token = api.invite("invited@example.org")
    response = api.register(body("other@example.org", invitation_token=token))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "pending"


def test_when_full_the_waiting_list_with_positions(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url, spec=event_spec(capacity=1)) as api:
        tokens = {who: api.invite(f"{who}@example.org") for who in ("first", "second", "third")}
        statuses = []
        for who, token in tokens.items():
            response = api.register(body(f"{who}@example.org", invitation_token=token))
            assert response.status_code == 201, response.text
            statuses.append((response.json()["status"], response.json()["position"]))
        assert statuses == [("registered", None), ("waitlisted", 1), ("waitlisted", 2)]
        again = api.register(body("second@example.org", invitation_token=tokens["second"]))
        assert (again.json()["status"], again.json()["position"], again.json()["created"]) == ("waitlisted", 1, False)


# --- 422 -----------------------------------------------------------------------------------------------

BAD_BODIES = {
    "missing consent": ({"name": "Ada", "email": "ada@example.org"}, {"privacy_consent"}),
    "consent false": (body(privacy_consent=False), {"privacy_consent"}),
    "consent as 'yes'": (body(privacy_consent="yes"), {"privacy_consent"}),
    "bad email": (body("not-an-address"), {"email"}),
    "email without domain dot": (body("ada@localhost@x"), {"email"}),
    "10,000-character name": (body(name="A" * 10_000), {"name"}),
    "NUL in name": (body(name="Ada\x00Lovelace"), {"name"}),
    "line break in name": (body(name="Ada\nBcc: x@example.org"), {"name"}),
    "escape in name": (body(name="Ada\x1b[31m"), {"name"}),
    "line separator in organisation": (body(organisation="Verein\u2028e.V."), {"organisation"}),
    "name as number": (body(name=42), {"name"}),
    "name as list": (body(name=["Ada"]), {"name"}),
    "email as object": ({**body(), "email": {"a": 1}}, {"email"}),
    "support_needs with an unknown option": (body(support_needs=["teleportation"]), {"support_needs"}),
    "support_needs a string that is no option": (body(support_needs="wheelchair please"), {"support_needs"}),
    "support_needs with a number": (body(support_needs=[1]), {"support_needs"}),
    "photo_consent as a string": (body(photo_consent="on"), {"photo_consent"}),
    "language not offered": (body(language="fr"), {"language"}),
    "invitation_token as number": (body(invitation_token=123), {"invitation_token"}),
    "unknown key": (body(is_admin=True), {"is_admin"}),
    "everything wrong at once": (
        {"name": 1, "email": "x", "privacy_consent": "yes", "support_needs": "x", "colour": "blue"},
        {"name", "email", "privacy_consent", "support_needs", "colour"},
    ),
}


@pytest.mark.parametrize("data, fields", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_bad_input_is_422_naming_each_field(api: Api, data: dict[str, Any], fields: set[str]) -> None:
    before = api.counts()
    errors = field_errors(api.register(data))
    assert set(errors) == fields
    assert api.counts() == before  # nothing written, no email


def test_a_multichoice_field_as_a_bare_string_is_422(api: Api) -> None:
    assert set(field_errors(api.register(body(support_needs="step_free")))) == {"support_needs"}


def test_messages_are_german_by_default_and_english_on_request(api: Api) -> None:
    data = {"name": "", "email": "ada@example.org", "privacy_consent": True, "organisation": "x\ny"}
    german = field_errors(api.register(data))
    assert german["name"] == "ist erforderlich"
    assert "Zeilenumbruch" in german["organisation"]
    english = field_errors(api.register(data, headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert english["name"] == "is required"
    assert "line break" in english["organisation"]
    too_long = field_errors(api.register(body(name="B" * 10_000)))["name"]
    assert "zu lang" in too_long and "10000" in too_long and "200" in too_long
    assert field_errors(api.register(body(name=7)))["name"] == "muss ein Text sein"
    assert field_errors(api.register(body(name=7), headers={"Accept-Language": "en"}))["name"] == "must be a text"


def api_messages(api: Api, language: str) -> dict[str, str]:
    """Every kind of message the registration endpoint answers, in one language."""
    headers = {"Accept-Language": language}
    out: dict[str, str] = {}
    bad = {"email": "x", "privacy_consent": "yes", "support_needs": ["x"], "photo_consent": "y", "colour": 1}
    out.update(field_errors(api.register(bad, headers=headers)))
    out["privacy_consent missing"] = field_errors(
        api.register({"name": "A", "email": "a@example.org"}, headers=headers)
    )["privacy_consent"]
    out["invalid JSON"] = field_errors(api.client.post(api.url, content=b"{", headers={**JSON, **headers}))["body"]
    out["JSON array"] = field_errors(api.register([], headers=headers))["body"]
    out["415"] = api.client.post(api.url, data={"name": "A"}, headers=headers).json()["detail"]
    out["413"] = api.client.post(api.url, content=b" " * 70_000, headers={**JSON, **headers}).json()["detail"]
    out["404"] = api.register(body(), slug="no-such-event", headers=headers).json()["detail"]
    out["201"] = api.register(body(f"{language}@example.org"), headers=headers).json()["message"]
    out["401"] = api.client.get(api.url, headers=headers).json()["detail"]
    return out


def test_every_api_message_is_german_by_default(api: Api) -> None:
    german, english = api_messages(api, "de"), api_messages(api, "en")
    untranslated = sorted(f"{key}: {german[key]}" for key in english if german[key] == english[key])
    assert untranslated == []


# --- other status codes --------------------------------------------------------------------------------


def test_unknown_event_is_404(api: Api) -> None:
    response = api.register(body(), slug="no-such-event")
    assert response.status_code == 404
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]
    assert api.client.get("/api/events/no-such-event").status_code == 404
    assert api.client.get("/api/events/no-such-event/form").status_code == 404


@pytest.mark.parametrize("slug", ["a%00b", "%C3%BC" * 200, "..%2F..%2Fetc", "x'--"])
def test_odd_slugs_are_404(request: pytest.FixtureRequest, api: Api, database_url: str, slug: str) -> None:
    for path in (f"/api/events/{slug}", f"/api/events/{slug}/form", f"/e/{slug}", f"/e/{slug}/register"):
        assert api.client.get(path).status_code == 404, path
    assert api.client.post(
        f"/api/events/{slug}/registrations", content=json.dumps(body()), headers=JSON
    ).status_code in (
        404,
        422,
    )


def test_after_the_deadline_is_409(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url, spec=event_spec(days_ahead=20, deadline_days_ahead=-1)) as api:
        before = api.counts()
        response = api.register(body())
        assert response.status_code == 409, response.text
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
        assert api.counts() == before
        assert api.client.get(f"/api/events/{api.slug}").json()["registration_open"] is False
        # bad input is still told as such (the form can be corrected before asking again)
        assert api.register({"name": 1}).status_code == 422


def test_form_encoded_body_is_415(api: Api) -> None:
    response = api.client.post(api.url, data={"name": "Ada", "email": "ada@example.org", "privacy_consent": "on"})
    assert response.status_code == 415
    assert api.client.post(api.url, content=json.dumps(body()), headers={"content-type": "text/plain"}).status_code == (
        415
    )
    assert api.client.post(api.url, content=json.dumps(body())).status_code == 415  # no content type at all


def test_body_over_64_kib_is_413(api: Api) -> None:
    big = json.dumps(body(support_other="x" * (64 * 1024)))
    assert len(big) > 64 * 1024
    before = api.counts()
    response = api.client.post(api.url, content=big, headers=JSON)
    assert response.status_code == 413
    assert api.counts() == before


HUGE_INT = b'{"name": ' + b"9" * 5000 + b"}"  # beyond Python's int digit limit: json.loads raises ValueError


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b"{'name': 'Ada'}", b"\xff\xfe{}", b"[]", b"[{}]", b'"text"', b"null", b"42", b"1e999999", HUGE_INT],
    ids=[
        "empty",
        "truncated",
        "single quotes",
        "not UTF-8",
        "array",
        "array of object",
        "string",
        "null",
        "number",
        "huge",
        "5000-digit number",
    ],
)
def test_invalid_json_or_no_object_is_422(api: Api, raw: bytes) -> None:
    errors = field_errors(api.client.post(api.url, content=raw, headers=JSON))
    assert set(errors) == {"body"}


def test_deeply_nested_json_is_422(api: Api) -> None:
    raw = "[" * 20_000 + "]" * 20_000
    assert len(raw) < 64 * 1024
    assert field_errors(api.client.post(api.url, content=raw, headers=JSON))


LONE_SURROGATES = {
    "name": (body(name="Ada\ud800"), "UnicodeEncodeError in desk._person_id (INSERT into people)"),
    "organisation": (body(organisation="\udc00"), "UnicodeEncodeError in desk._person_id (INSERT into people)"),
    "invitation_token": (body(invitation_token="\ud800"), "UnicodeEncodeError in tokens.token_hash"),
    "unknown key": ({**body(), "\ud800": 1}, "the key is echoed in the 422 body, JSONResponse cannot encode it"),
}


@pytest.mark.parametrize("data, reason", LONE_SURROGATES.values(), ids=LONE_SURROGATES.keys())
def test_lone_surrogates_are_422(request: pytest.FixtureRequest, api: Api, data: Any, reason: str) -> None:
    # JSON may carry "\ud800" escapes; such a string cannot be stored or sent (it is no UTF-8)
    assert api.register(data).status_code == 422


def test_a_lone_surrogate_in_an_answer_is_refused(api: Api) -> None:
    response = api.register(body("poison@example.org", support_other="x\udfff"))
    assert api.client.get(api.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 200
    assert response.status_code == 422


# --- OpenAPI, organisers' list, rate limit, health -----------------------------------------------------


def test_openapi_document(api: Api) -> None:
    response = api.client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"] and doc["info"]["version"]
    post = doc["paths"][REGISTRATIONS]["post"]
    assert {"201", "404", "409", "413", "415", "422", "429"} <= set(post["responses"])
    request_schema = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"name", "email", "privacy_consent"} <= set(request_schema["required"])
    assert "get" in doc["paths"][REGISTRATIONS]
    assert "/healthz" in doc["paths"]

    # every $ref resolves, and every schema in it is a valid JSON Schema (OpenAPI 3.1 uses draft 2020-12)
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                assert ref.startswith("#/"), ref
                target: Any = doc
                for part in ref[2:].split("/"):
                    target = target[part]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    for schema in doc.get("components", {}).get("schemas", {}).values():
        jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator.check_schema(request_schema)
    detail = doc["components"]["schemas"]["ErrorResponse"]["properties"]["detail"]
    assert "FieldError" in json.dumps(detail)


def test_form_description_lists_the_formats_fields(api: Api) -> None:
    fields = {f["name"]: f for f in api.client.get(f"/api/events/{api.slug}/form").json()["fields"]}
    assert fields["support_needs"]["type"] == "multichoice"
    assert "step_free" in [o["value"] for o in fields["support_needs"]["options"]]
    english = api.client.get(f"/api/events/{api.slug}/form", headers={"Accept-Language": "en"}).json()
    assert "Step-free access" in json.dumps(english)


def test_organisers_list_needs_the_bearer_token(api: Api) -> None:
    api.register(body("ada@example.org"))
    missing = api.client.get(api.url)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    wrong = api.client.get(api.url, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert api.client.get(api.url, headers={"Authorization": f"Basic {ADMIN_TOKEN}"}).status_code == 401
    ok = api.client.get(api.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ok.status_code == 200
    rows = ok.json()["registrations"]
    assert [(r["email"], r["status"], r["name"]) for r in rows] == [("ada@example.org", "pending", "Ada Lovelace")]


def test_without_an_admin_token_configured_the_list_is_closed(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url, EVENTKIT_ADMIN_TOKEN="") as api:
        assert api.client.get(api.url, headers={"Authorization": "Bearer "}).status_code == 401
        assert api.client.get(api.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 401


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, database_url: str) -> None:
    with serve(tmp_path, database_url, EVENTKIT_RATE_LIMIT="3/minute") as api:
        statuses = [api.register(body(f"p{i}@example.org")).status_code for i in range(3)]
        assert statuses == [201, 201, 201]
        before = api.counts()
        limited = api.register(body("p4@example.org"))
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert isinstance(limited.json()["detail"], str) and limited.json()["detail"]
        assert api.counts() == before


def test_healthz(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"

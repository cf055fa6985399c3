"""Shared fixtures: stores on SQLite and PostgreSQL, a real SMTP sink, one Prefect harness per session."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import eventkit.features  # noqa: F401 - as every entry point: each feature's email kinds are registered
from eventkit.core.settings import PROJECT_ROOT, Settings, SmtpConfig
from eventkit.db.store import Store
from eventkit.devtools.mailsink import MailSink

TEMPLATES = Path(os.environ.get("EVENTKIT_TEMPLATE_DIR") or PROJECT_ROOT / "templates")
EXAMPLES = PROJECT_ROOT / "examples"
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
POSTGRES_URL = os.environ.get("EVENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_schema_url() -> Iterator[str]:
    """A fresh schema on the machine's PostgreSQL server for one test, dropped afterwards."""
    schema = "ek_" + secrets.token_hex(6)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'eventkit.sqlite3'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    yield s
    s.dispose()


def make_settings(tmp_path: Path, database_url: str, smtp_url: str | None = None, **extra: str) -> Settings:
    env = {
        "EVENTKIT_DATABASE_URL": database_url,
        "EVENTKIT_MAIL_DIR": str(tmp_path / "mail"),
        "EVENTKIT_VAR_DIR": str(tmp_path / "var"),
        "EVENTKIT_SECRET_KEY": "test-secret-" + secrets.token_hex(8),
        "EVENTKIT_BASE_URL": "https://events.example.org",
        "EVENTKIT_MAIL_FROM": "noreply@events.example.org",
        "EVENTKIT_BATCH_SIZE": "4",
        "EVENTKIT_TEMPLATE_DIR": str(TEMPLATES),
        **extra,
    }
    if smtp_url:
        env["EVENTKIT_SMTP_URL"] = smtp_url
    return Settings.from_env(env)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    with MailSink() as s:
        yield s


@pytest.fixture
def smtp_config(sink: MailSink) -> SmtpConfig:
    return SmtpConfig.from_url(sink.url)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield

"""Settings read from the environment or a `.env` file: the EVENTKIT_* names of the contract."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parents[3]


class SettingsError(ValueError):
    """A setting has a value eventkit cannot use; the message names the setting."""


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to reach the SMTP relay, parsed from EVENTKIT_SMTP_URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    use_tls: bool = False  # smtps://: TLS from the first byte
    start_tls: bool | None = None  # None: STARTTLS when the server offers it
    timeout: float = 30.0
    cafile: str | None = None  # a CA bundle for a relay with a certificate of an internal CA

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise SettingsError(f"EVENTKIT_SMTP_URL: scheme must be smtp:// or smtps://, not {parts.scheme!r}")
        if not parts.hostname:
            raise SettingsError("EVENTKIT_SMTP_URL: no host given")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        starttls = query.get("starttls", "auto")
        start_tls: bool | None = {"auto": None, "required": True, "off": False}.get(starttls, None)
        if starttls not in ("auto", "required", "off"):
            raise SettingsError("EVENTKIT_SMTP_URL: starttls must be auto, required or off")
        use_tls = parts.scheme == "smtps"
        try:
            port = parts.port or (465 if use_tls else 587)
            timeout = float(query.get("timeout", "30"))
        except ValueError as exc:
            raise SettingsError(f"EVENTKIT_SMTP_URL: {exc}") from None
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=use_tls,
            start_tls=False if use_tls else start_tls,
            timeout=timeout,
            cafile=query.get("cafile") or None,
        )


@dataclass(frozen=True)
class Settings:
    """Everything eventkit reads from its environment, resolved once."""

    database_url: str
    smtp: SmtpConfig | None
    mail_dir: Path
    base_url: str
    secret_key: str = field(repr=False)
    admin_token: str | None = field(default=None, repr=False)
    mail_from: str = "noreply@eventkit.localhost"
    language: str = "de"
    template_dir: Path = PROJECT_ROOT / "templates"
    var_dir: Path = PROJECT_ROOT / "var"
    smtp_concurrency: int = 4
    batch_size: int = 250
    # how the web app gets its emails delivered: inline (in the app's process, the embedded default) or
    # prefect (it emits a Prefect event; a deployment trigger runs the deliver-outbox flow)
    delivery: str = "inline"
    # registrations (and other form posts) per client address: (requests, seconds); None: no limit
    rate_limit: tuple[int, int] | None = (10, 60)
    # the relay's limits for all workers together (Prefect global concurrency limits; see flows/relay.py):
    # messages per period, and connections open at once; None: no shared limit
    smtp_rate: tuple[int, int] | None = None
    smtp_connections: int | None = None
    # EVENTKIT_DEBUG_PERSONAL_DATA=1: Prefect logs and artifacts may name recipients (for a hunt for a bug);
    # off, they show counts and ids only
    debug_personal_data: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Settings:
        env: dict[str, str] = {}
        dotenv_path = dotenv if dotenv is not None else Path.cwd() / ".env"
        if environ is None:
            if dotenv_path.is_file():
                env.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
            env.update(os.environ)
        else:
            env.update(environ)

        var_dir = Path(env.get("EVENTKIT_VAR_DIR", str(PROJECT_ROOT / "var")))
        database_url = env.get("EVENTKIT_DATABASE_URL") or f"sqlite:///{var_dir / 'eventkit.sqlite3'}"
        smtp_url = env.get("EVENTKIT_SMTP_URL") or None
        language = env.get("EVENTKIT_LANGUAGE") or "de"
        if language not in ("de", "en"):
            raise SettingsError("EVENTKIT_LANGUAGE: must be de or en")
        return cls(
            database_url=database_url,
            smtp=SmtpConfig.from_url(smtp_url) if smtp_url else None,
            mail_dir=Path(env.get("EVENTKIT_MAIL_DIR") or var_dir / "mail"),
            base_url=(env.get("EVENTKIT_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
            secret_key=env.get("EVENTKIT_SECRET_KEY") or _local_secret(var_dir),
            admin_token=env.get("EVENTKIT_ADMIN_TOKEN") or None,
            mail_from=env.get("EVENTKIT_MAIL_FROM") or "noreply@eventkit.localhost",
            language=language,
            template_dir=Path(env.get("EVENTKIT_TEMPLATE_DIR") or PROJECT_ROOT / "templates"),
            var_dir=var_dir,
            smtp_concurrency=_positive_int(env, "EVENTKIT_SMTP_CONCURRENCY", 4),
            batch_size=_positive_int(env, "EVENTKIT_BATCH_SIZE", 250),
            delivery=_choice(env, "EVENTKIT_DELIVERY", ("inline", "prefect"), "inline"),
            rate_limit=_rate_limit(env.get("EVENTKIT_RATE_LIMIT") or "10/minute"),
            smtp_rate=_rate_limit(env.get("EVENTKIT_SMTP_RATE_LIMIT") or "off", "EVENTKIT_SMTP_RATE_LIMIT"),
            smtp_connections=_positive_int(env, "EVENTKIT_SMTP_CONNECTIONS", 0) or None,
            debug_personal_data=(env.get("EVENTKIT_DEBUG_PERSONAL_DATA") or "").strip().lower()
            in ("1", "true", "yes", "on"),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: {raw!r} is not a whole number") from None
    if value < 1:
        raise SettingsError(f"{name}: must be at least 1")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in choices:
        raise SettingsError(f"{name}: must be one of {', '.join(choices)}")
    return value


_PERIODS = {"second": 1, "minute": 60, "hour": 3600}


def _rate_limit(raw: str, name: str = "EVENTKIT_RATE_LIMIT") -> tuple[int, int] | None:
    """'10/minute', '100/hour', '5/second' or 'off'."""
    value = raw.strip().lower()
    if value in ("off", "none", "0"):
        return None
    count, _, period = value.partition("/")
    if not count.strip().isdigit() or int(count) < 1 or period.strip() not in _PERIODS:
        raise SettingsError(f"{name}: must look like 10/minute, 100/hour or off")
    return int(count), _PERIODS[period.strip()]


def _local_secret(var_dir: Path) -> str:
    """A per-installation secret kept under var/ when EVENTKIT_SECRET_KEY is not set (never in the repo)."""
    path = var_dir / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key

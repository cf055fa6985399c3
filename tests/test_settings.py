from __future__ import annotations

from pathlib import Path

import pytest

from eventkit.core.settings import Settings, SettingsError, SmtpConfig


def test_smtp_urls() -> None:
    plain = SmtpConfig.from_url("smtp://relay.example.org")
    assert (plain.host, plain.port, plain.use_tls, plain.start_tls) == ("relay.example.org", 587, False, None)
    tls = SmtpConfig.from_url("smtps://verein%40example.org:p%40ss%3Aword@mail.example.org")
    assert (tls.port, tls.use_tls, tls.username, tls.password) == (465, True, "verein@example.org", "p@ss:word")
    assert SmtpConfig.from_url("smtp://127.0.0.1:1025?starttls=off").start_tls is False
    assert SmtpConfig.from_url("smtp://h:25?starttls=required").start_tls is True


@pytest.mark.parametrize("url", ["http://example.org", "smtp://", "smtp://h:25?starttls=maybe"])
def test_bad_smtp_urls_name_the_setting(url: str) -> None:
    with pytest.raises(SettingsError, match="EVENTKIT_SMTP_URL"):
        SmtpConfig.from_url(url)


def test_defaults_are_embedded(tmp_path: Path) -> None:
    s = Settings.from_env({"EVENTKIT_VAR_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'eventkit.sqlite3'}"
    assert s.smtp is None
    assert s.mail_dir == tmp_path / "mail"
    # a secret is made once per installation, kept outside the repo, readable by its owner only
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert Settings.from_env({"EVENTKIT_VAR_DIR": str(tmp_path)}).secret_key == s.secret_key


def test_bad_numbers_name_the_setting() -> None:
    with pytest.raises(SettingsError, match="EVENTKIT_BATCH_SIZE"):
        Settings.from_env({"EVENTKIT_BATCH_SIZE": "many", "EVENTKIT_SECRET_KEY": "x"})

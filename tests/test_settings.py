from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import PROJECT_ROOT, load_settings

CONFIG = PROJECT_ROOT / "config" / "hotline.toml"


def test_defaults_from_the_shipped_file() -> None:
    s = load_settings(CONFIG, env={})
    assert s.server.port == 8080
    assert s.database_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'hotline.db'}"
    assert s.secrets.api_token is None


def test_environment_overrides_typed_values() -> None:
    s = load_settings(CONFIG, env={"HOTLINE_DATABASE_URL": "postgresql+asyncpg://u@h/db",
                                   "HOTLINE_SERVER_PORT": "9090", "HOTLINE_BOT_ENABLED": "false",
                                   "HOTLINE_API_TOKEN": "s3cret"})
    assert s.database_url == "postgresql+asyncpg://u@h/db"
    assert s.server.port == 9090 and s.bot.enabled is False
    assert s.secrets.api_token is not None and s.secrets.api_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize("env", [{"HOTLINE_DATABSE_URL": "x"}, {"HOTLINE_SERVER_PROT": "1"}])
def test_unknown_environment_setting_is_an_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(CONFIG, env=env)


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "config" / "hotline.toml"
    bad.parent.mkdir()
    bad.write_text('[server]\nprot = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(bad, env={})


def test_secret_in_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "hotline.toml"
    bad.write_text('[secrets]\napi_token = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="environment"):
        load_settings(bad, env={})


def test_bad_value_type_is_an_error() -> None:
    with pytest.raises(ConfigError, match="port"):
        load_settings(CONFIG, env={"HOTLINE_SERVER_PORT": "eighty"})


def test_deadlines_need_every_request_type(tmp_path: Path) -> None:
    bad = tmp_path / "hotline.toml"
    bad.write_text('[routing]\ndeadline_workdays = { complaint = 10 }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="consultation"):
        load_settings(bad, env={})
    good = tmp_path / "ok.toml"
    good.write_text('[routing]\ndeadline_workdays = { consultation = 2, help = 4, complaint = 8, report = 15, '
                    'suggestion = 15 }\n', encoding="utf-8")
    assert load_settings(good, env={}).routing.deadline_workdays["complaint"] == 8

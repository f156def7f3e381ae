from pathlib import Path

import pytest

from app.config import ConfigError, ensure_identity, load_settings, read_config_file, save_settings, write_config_file


def test_data_dir_puts_everything_under_one_folder(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert settings.config_file == tmp_path / "config.toml"
    assert settings.library == tmp_path / "library"
    assert settings.db_url == f"sqlite:///{tmp_path / 'station.db'}"
    assert settings.redis_dir == tmp_path / "redis"
    assert settings.log_dir == tmp_path / "logs"
    assert settings.redis_url is None


def test_precedence_is_defaults_then_file_then_env_then_flags(tmp_path):
    write_config_file(tmp_path / "config.toml", {"port": 9000, "workers": 5, "token": "from-file", "host": "10.0.0.1"})
    env = {"INGEST_DATA_DIR": str(tmp_path), "INGEST_PORT": "9100", "INGEST_TOKEN": "from-env"}
    settings = load_settings({"token": "from-flag"}, environ=env)
    assert settings.workers == 5  # file beats default
    assert settings.host == "10.0.0.1"
    assert settings.port == 9100  # env beats file
    assert settings.token == "from-flag"  # flag beats env
    assert settings.data_dir == tmp_path


def test_bad_values_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="port"):
        load_settings({"data_dir": str(tmp_path), "port": 70000}, environ={})
    (tmp_path / "config.toml").write_text("port = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({"data_dir": str(tmp_path)}, environ={})
    (tmp_path / "config.toml").write_text('prot = 1\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({"data_dir": str(tmp_path)}, environ={})


def test_token_is_generated_once_and_kept(tmp_path):
    first = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert ensure_identity(first) is True
    assert len(first.token) >= 20
    second = load_settings({"data_dir": str(tmp_path)}, environ={})
    ensure_identity(second)
    assert second.token == first.token
    assert second.station_id == first.station_id
    assert read_config_file(tmp_path / "config.toml")["token"] == first.token


def test_saving_settings_reports_what_needs_a_restart(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    ensure_identity(settings)
    restart = save_settings(settings, {"port": 9999, "small_file_bytes": 1000, "library": str(tmp_path / "lib2")})
    assert sorted(restart) == ["library", "port"]
    reloaded = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert reloaded.port == 9999
    assert reloaded.small_file_bytes == 1000
    assert reloaded.library == Path(tmp_path / "lib2")
    with pytest.raises(ConfigError):
        save_settings(settings, {"qr_window_s": -1})


def test_tokens_are_safe_to_type_on_a_command_line():
    from app.config import TOKEN_ALPHABET, new_token

    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 24 and set(t) <= set(TOKEN_ALPHABET) for t in tokens)
    assert not any(t.startswith("-") for t in tokens)

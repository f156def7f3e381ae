import os
from pathlib import Path

import pytest

from app.config import (
    ConfigError,
    apply_settings,
    ensure_identity,
    load_settings,
    read_config_file,
    save_settings,
    write_config_file,
)


def test_data_dir_puts_everything_under_one_folder(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert settings.config_file == tmp_path / "config.toml"
    assert settings.library == tmp_path / "library"
    assert settings.db_url == f"sqlite:///{tmp_path / 'station.db'}"
    assert settings.redis_dir == tmp_path / "redis"
    assert settings.log_dir == tmp_path / "logs"
    assert settings.redis_url is None


def test_precedence_is_defaults_then_file_then_env_then_flags(tmp_path):
    write_config_file(tmp_path / "config.toml", {"port": 9000, "workers": 5, "token": "from-file-0123456789", "host": "10.0.0.1"})
    env = {"INGEST_DATA_DIR": str(tmp_path), "INGEST_PORT": "9100", "INGEST_TOKEN": "from-env-0123456789"}
    settings = load_settings({"token": "from-flag-0123456789"}, environ=env)
    assert settings.workers == 5  # file beats default
    assert settings.host == "10.0.0.1"
    assert settings.port == 9100  # env beats file
    assert settings.token == "from-flag-0123456789"  # flag beats env
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
    (tmp_path / "config.toml").write_text("library_reserve_bytes = -1\n")
    with pytest.raises(ConfigError, match="library_reserve_bytes must be 0 or more"):
        load_settings({"data_dir": str(tmp_path)}, environ={})
    (tmp_path / "config.toml").write_text("library_reserve_bytes = 0\n")  # no reserve: a choice, not an error
    assert load_settings({"data_dir": str(tmp_path)}, environ={}).library_reserve_bytes == 0


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


def test_applied_settings_change_the_running_station_only_where_safe(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    ensure_identity(settings)
    port = settings.port
    restart = apply_settings(settings, {"port": 9999, "small_file_bytes": 1000})
    assert restart == ["port"]
    assert settings.small_file_bytes == 1000  # the running core reads it at once
    assert settings.port == port  # still listening where it was until the restart
    assert load_settings({"data_dir": str(tmp_path)}, environ={}).port == 9999  # saved for the restart
    with pytest.raises(ConfigError):
        apply_settings(settings, {"small_file_bytes": 5, "qr_window_s": -1})
    assert settings.small_file_bytes == 1000  # a refused change applies nothing


def test_every_generated_token_passes_the_strength_rule():
    from app.config import check_token, new_token

    for _ in range(2000):  # a token without a digit came one draw in 40 and the next start refused it
        assert check_token(new_token())


def test_tokens_are_safe_to_type_on_a_command_line():
    from app.config import TOKEN_ALPHABET, new_token

    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) == 24 and set(t) <= set(TOKEN_ALPHABET) for t in tokens)
    assert not any(t.startswith("-") for t in tokens)


@pytest.mark.parametrize("token", ["short1", "onlylettersbutlongenough", "1234567890123456789", "with space 0123456789"])
@pytest.mark.parametrize("source", ["flag", "env", "file"])
def test_a_weak_token_set_by_hand_is_refused_with_a_clear_message(tmp_path, token, source):
    if source == "file":
        (tmp_path / "config.toml").write_text(f'token = "{token}"\n')
    env = {"INGEST_DATA_DIR": str(tmp_path), **({"INGEST_TOKEN": token} if source == "env" else {})}
    with pytest.raises(ConfigError, match="pairing token must"):
        load_settings({"token": token} if source == "flag" else {}, environ=env)


def test_a_weak_token_is_refused_by_the_settings_dialog_path_and_nothing_is_saved(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    ensure_identity(settings)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        save_settings(settings, {"token": "password"})
    assert read_config_file(tmp_path / "config.toml")["token"] == settings.token != "password"


def test_the_config_file_is_owner_only_from_its_first_byte(tmp_path, monkeypatch):
    """The temporary file holding the token is never readable by others, not even before a chmod."""
    import tomli_w

    seen: list[int] = []
    real_dump = tomli_w.dump

    def dump(values, fh):
        seen.append(os.fstat(fh.fileno()).st_mode & 0o777)  # while the token is being written
        real_dump(values, fh)

    monkeypatch.setattr(tomli_w, "dump", dump)
    old = os.umask(0o022)
    try:
        (tmp_path / "config.toml.tmp").write_text("left by a crash")
        os.chmod(tmp_path / "config.toml.tmp", 0o644)
        write_config_file(tmp_path / "config.toml", {"token": "Abcdefgh23456789xyz"})
    finally:
        os.umask(old)
    assert seen == [0o600]
    assert os.stat(tmp_path / "config.toml").st_mode & 0o777 == 0o600
    assert read_config_file(tmp_path / "config.toml") == {"token": "Abcdefgh23456789xyz"}

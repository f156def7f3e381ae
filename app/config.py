"""Settings: defaults < config file (TOML) < environment < command-line flags.

`--data-dir` (or INGEST_DATA_DIR) puts config, database, embedded Redis, logs and the
default library under one folder; without it the platform's usual folders are used.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import tomli_w

APP_NAME = "ingest-station"

# Environment variables and the setting each one sets.
ENV_VARS: dict[str, str] = {
    "INGEST_DATA_DIR": "data_dir",
    "INGEST_TOKEN": "token",
    "INGEST_DB_URL": "db_url",
    "INGEST_REDIS_URL": "redis_url",
    "INGEST_LIBRARY": "library",
    "INGEST_PORT": "port",
    "INGEST_HOST": "host",
    "INGEST_WORKERS": "workers",
    "INGEST_LOG_LEVEL": "log_level",
    "INGEST_MDNS": "mdns",
    "INGEST_TLS": "tls",
}

# Settings a config file may hold (the rest are per-run choices).
FILE_KEYS = (
    "host", "port", "token", "library", "db_url", "redis_url", "workers", "log_level",
    "station_id", "small_file_bytes", "qr_window_s", "qr_interval_s", "chunk_size",
    "import_proxies", "redis_prefix", "handoff_port", "handoff_days", "handoff_host",
    "drop_zone_name", "logo_path", "intro_s", "outro_s", "music_path", "music_level_db",
    "wipe_after_import", "max_connections", "max_connections_per_address", "max_connections_before_hello",
    "mdns", "tls", "library_reserve_bytes",
)

# Settings that only take effect after a restart (the settings dialog says so).
RESTART_KEYS = frozenset({"host", "port", "db_url", "redis_url", "workers", "library", "handoff_port", "tls",
                          "max_connections", "max_connections_per_address", "max_connections_before_hello"})
# Settings that are positive whole numbers.
COUNT_KEYS = ("small_file_bytes", "chunk_size", "handoff_days", "max_connections", "max_connections_per_address",
              "max_connections_before_hello")
MIN_TOKEN_CHARS = 16

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting has a value the station cannot use."""


@dataclass
class Settings:
    data_dir: Path
    config_file: Path
    host: str = "0.0.0.0"
    port: int = 8765
    token: str = ""
    library: Path = Path()
    db_url: str = ""
    redis_url: str | None = None  # None: start the embedded redis-server
    workers: int = 2
    log_level: str = "INFO"
    station_id: str = ""
    small_file_bytes: int = 50_000_000
    qr_window_s: float = 5.0
    qr_interval_s: float = 0.5
    chunk_size: int = 1024 * 1024
    import_proxies: bool = False
    # Ask a Detector to delete a card's files once its import is verified complete (PROTOCOL.md `wipe`).
    wipe_after_import: bool = False
    # With a Detector that has `range`, a big clip's first bytes asked to find its index (then only
    # the bytes of its first seconds are asked), and the fixed head searched when its index cannot be read.
    index_head_bytes: int = 256 * 1024
    probe_head_bytes: int = 64 * 1024 * 1024
    # Kept free on the library's disk: files are asked for only when they fit beside it
    # (app/pipeline/free_space.py), so the database, renders and the system never find it full.
    library_reserve_bytes: int = 2_000_000_000
    # Every Redis key starts with this, so several stations (or test runs) can share one server.
    redis_prefix: str = "ingest"
    # The drop zone's branding of passengers' videos (app/media/branding.py); empty: plain join.
    drop_zone_name: str = ""
    logo_path: str = ""  # PNG with transparency
    intro_s: float = 3.0
    outro_s: float = 2.0
    music_path: str = ""  # mixed under the clips' own sound
    music_level_db: float = -18.0
    # Hand-off at the desk: passengers' videos on the LAN (its own port: streamed, not WebSocket).
    handoff_port: int | None = None  # None: the listen port + 1 (any free port when that is 0)
    handoff_days: int = 7  # a link expires this many days after it was made
    handoff_host: str = ""  # the address in links; empty: this machine's LAN address
    # WebSocket connections the station holds: in all, from one address, before their hello
    # (app/net/admission.py; the oldest waiting for hello is closed to make room).
    max_connections: int = 256
    max_connections_per_address: int = 32
    max_connections_before_hello: int = 64
    # Advertise the station over mDNS (`_ingest-station._tcp`) so Detectors find it unaided.
    mdns: bool = True
    # Serve wss:// (and https:// for /health, /api) with the station's own certificate, made in the
    # data folder on first start (app/net/tls.py). Off: plain ws://, for Detectors without TLS.
    tls: bool = False
    no_gui: bool = False
    # Set when --data-dir was not given: logs go to the platform's log folder.
    log_dir: Path = field(default=Path())

    # -- derived locations ------------------------------------------------------
    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def tls_dir(self) -> Path:
        """The station's certificate and its key (app/net/tls.py)."""
        return self.data_dir / "tls"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    @property
    def handoff_listen_port(self) -> int:
        if self.handoff_port is not None:
            return self.handoff_port
        return self.port + 1 if 0 < self.port < 65535 else 0

    @property
    def listen_address(self) -> str:
        return f"{self.host}:{self.port}"

    def public(self) -> dict[str, Any]:
        """The settings as plain data, for the config file and the settings dialog."""
        out: dict[str, Any] = {}
        for key in FILE_KEYS:
            value = getattr(self, key)
            if value is None:
                continue
            out[key] = str(value) if isinstance(value, Path) else value
        return out


def _default_dirs(data_dir: Path | None) -> dict[str, Path]:
    if data_dir is not None:
        return {
            "data_dir": data_dir,
            "config_file": data_dir / "config.toml",
            "library": data_dir / "library",
            "log_dir": data_dir / "logs",
        }
    dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
    return {
        "data_dir": Path(dirs.user_data_dir),
        "config_file": Path(dirs.user_config_dir) / "config.toml",
        "library": Path(platformdirs.user_videos_dir()) / "Ingest Station",
        "log_dir": Path(dirs.user_log_dir),
    }


def _coerce(key: str, value: Any) -> Any:
    """Turn a raw value (TOML, env text or flag) into the setting's type, or say why not."""
    try:
        if key == "token":
            return check_token(str(value))
        if key in ("port", "handoff_port", "workers", *COUNT_KEYS):
            number = int(value)
            if key in ("port", "handoff_port") and not 0 <= number <= 65535:
                raise ConfigError(f"port must be 0-65535, got {number}")
            if key in ("workers", *COUNT_KEYS) and number < (0 if key == "workers" else 1):
                raise ConfigError(f"{key} must be positive, got {number}")
            return number
        if key == "library_reserve_bytes":
            number = int(value)
            if number < 0:
                raise ConfigError(f"{key} must be 0 or more, got {number}")
            return number
        if key in ("qr_window_s", "qr_interval_s"):
            seconds = float(value)
            if seconds <= 0:
                raise ConfigError(f"{key} must be positive, got {seconds}")
            return seconds
        if key in ("intro_s", "outro_s"):
            seconds = float(value)
            if not 0 <= seconds <= 30:
                raise ConfigError(f"{key} must be 0-30 seconds, got {seconds}")
            return seconds
        if key == "music_level_db":
            decibels = float(value)
            if not -60 <= decibels <= 0:
                raise ConfigError(f"music level must be -60 to 0 dB, got {decibels}")
            return decibels
        if key in ("import_proxies", "wipe_after_import", "mdns", "tls"):
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in ("1", "true", "yes", "on")
        if key in ("library", "data_dir", "config_file"):
            return Path(value).expanduser()
        if key == "log_level":
            level = str(value).upper()
            if level not in LOG_LEVELS:
                raise ConfigError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
            return level
        if key == "redis_url":
            return str(value) or None
        return str(value)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{key}: cannot use {value!r} ({exc})") from None


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return raw


def check_token(token: str) -> str:
    """A pairing token set by hand: long enough and not a word, so it cannot be guessed on the LAN."""
    if (len(token) < MIN_TOKEN_CHARS or not any(c.isalpha() for c in token)
            or not any(c.isdigit() for c in token)):
        raise ConfigError(f"the pairing token must have at least {MIN_TOKEN_CHARS} characters with letters "
                          f"and digits (got {len(token)} characters); leave it unset to get a generated one")
    if len(token) > 256 or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError("the pairing token must be at most 256 characters, without spaces or control characters")
    return token


def write_config_file(path: Path, values: Mapping[str, Any]) -> None:
    """Write atomically so a crash never leaves half a config (and the token) behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink()  # a leftover of a crash may have other permissions: start afresh
    except FileNotFoundError:
        pass
    # Owner-only from its first byte: it holds the pairing token (no window before a chmod).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump({k: v for k, v in values.items() if v is not None}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings from every layer. `flags` holds only options given on the command line."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    environ = os.environ if environ is None else environ
    env_values = {setting: environ[var] for var, setting in ENV_VARS.items() if environ.get(var)}

    data_dir_raw = flags.get("data_dir") or env_values.get("data_dir")
    data_dir = Path(data_dir_raw).expanduser().resolve() if data_dir_raw else None
    values: dict[str, Any] = dict(_default_dirs(data_dir))
    if flags.get("config_file"):
        values["config_file"] = Path(flags["config_file"]).expanduser()

    layered: dict[str, Any] = {}
    layered.update(read_config_file(values["config_file"]))
    layered.update({k: v for k, v in env_values.items() if k != "data_dir"})
    layered.update({k: v for k, v in flags.items() if k not in ("data_dir", "config_file")})
    for key, raw in layered.items():
        values[key] = _coerce(key, raw)

    settings = Settings(**{k: v for k, v in values.items() if k in _FIELDS})
    if not settings.db_url:
        settings.db_url = f"sqlite:///{settings.data_dir / 'station.db'}"
    return settings


_FIELDS = {f.name for f in dataclasses.fields(Settings)}


def ensure_identity(settings: Settings) -> bool:
    """Give a first-started station its pairing token and station id, kept in the config file.

    Returns True when the config file was written.
    """
    stored = read_config_file(settings.config_file)
    changed = False
    if not settings.token:
        settings.token = stored.get("token") or new_token()
    if "token" not in stored:
        stored["token"] = settings.token
        changed = True
    if not settings.station_id:
        settings.station_id = stored.get("station_id") or f"{socket.gethostname()}-{secrets.token_hex(3)}"
    if "station_id" not in stored:
        stored["station_id"] = settings.station_id
        changed = True
    if changed:
        write_config_file(settings.config_file, stored)
    return changed


TOKEN_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"


def new_token() -> str:
    # Typed by hand on a Detector now and then: letters and digits only (no "-" a command
    # line would take for an option, no l/1 or O/0 to misread); 24 of them ≈ 140 bits.
    # Drawn again until it has a letter and a digit (check_token's rule; 1 draw in 40 has no digit).
    while True:
        token = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(24))
        if any(c.isdigit() for c in token) and any(c.isalpha() for c in token):
            return token


def save_settings(settings: Settings, changes: Mapping[str, Any]) -> list[str]:
    """Validate and persist changes from the settings dialog; returns keys needing a restart."""
    coerced = {key: _coerce(key, value) for key, value in changes.items()}
    unknown = sorted(set(coerced) - set(FILE_KEYS))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)}")
    stored = read_config_file(settings.config_file)
    restart = []
    for key, value in coerced.items():
        if getattr(settings, key) != value and key in RESTART_KEYS:
            restart.append(key)
        setattr(settings, key, value)
        stored[key] = str(value) if isinstance(value, Path) else value
    write_config_file(settings.config_file, stored)
    return restart


def apply_settings(settings: Settings, changes: Mapping[str, Any]) -> list[str]:
    """The settings dialog's one command: validate and persist `changes`, then apply to the live
    `settings` (the object the running core reads) only those safe to change while running.
    Returns the keys that wait for a restart. On ConfigError or OSError nothing changed."""
    saved = dataclasses.replace(settings)  # validated and written on a copy first
    restart = save_settings(saved, changes)
    for key in changes:
        if key not in restart:
            setattr(settings, key, getattr(saved, key))
    return sorted(restart)

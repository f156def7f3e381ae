"""Who this Detector is: its id, kept in its own state file, and its pairing token.

The id is generated once per state folder and kept there, not taken from the host name: two
readers cloned from one system image would otherwise share an id and knock each other off the
station (a second connection with an id replaces the first, close 4409).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path

import platformdirs

from app.net.protocol import DETECTOR_ID_RE

log = logging.getLogger(__name__)

STATE_FILE = "detector.json"
TOKEN_ENV = "INGEST_TOKEN"
MAX_TOKEN_FILE_BYTES = 4096


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir("ingest-station", appauthor=False)) / "detector"


def new_detector_id() -> str:
    """`<host>-<8 hex>`: readable in the station's window, unique per state folder."""
    host = "".join(c if DETECTOR_ID_RE.fullmatch(c) else "-" for c in socket.gethostname())[:40].strip("-.")
    return f"{host or 'detector'}-{secrets.token_hex(4)}"


def stored_detector_id(state_dir: Path) -> str:
    """The id kept in `state_dir`, made and saved on first use (or when the file is unreadable)."""
    state_file = state_dir / STATE_FILE
    try:
        stored = json.loads(state_file.read_text(encoding="utf-8")).get("detector_id")
    except FileNotFoundError:
        stored = None
    except (OSError, ValueError, AttributeError) as exc:
        log.warning("cannot read %s (%s); making a new detector id", state_file, exc)
        stored = None
    if isinstance(stored, str) and DETECTOR_ID_RE.fullmatch(stored):
        return stored
    detector_id = new_detector_id()
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_name(f"{STATE_FILE}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"detector_id": detector_id}) + "\n", encoding="utf-8")
    os.replace(tmp, state_file)  # never half a state file
    log.info("this Detector's id is %s (kept in %s)", detector_id, state_file)
    return detector_id


class TokenMissing(ValueError):
    """No pairing token was given in any of the accepted ways."""


def pairing_token(flag: str | None, token_file: Path | None, environ: Mapping[str, str] | None = None) -> str:
    """`--token`, else `--token-file`, else INGEST_TOKEN. A file keeps the token out of `ps`."""
    environ = os.environ if environ is None else environ
    if flag:
        return flag
    if token_file is not None:
        try:
            with token_file.open("rb") as fh:
                raw = fh.read(MAX_TOKEN_FILE_BYTES + 1)
        except OSError as exc:
            raise TokenMissing(f"cannot read the token file {token_file}: {exc.strerror or exc}") from None
        if len(raw) > MAX_TOKEN_FILE_BYTES:
            raise TokenMissing(f"the token file {token_file} is larger than {MAX_TOKEN_FILE_BYTES} bytes")
        token = raw.decode("utf-8", errors="replace").strip()
        if not token:
            raise TokenMissing(f"the token file {token_file} is empty")
        return token
    token = environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    raise TokenMissing(f"give the station's pairing token: --token-file FILE, {TOKEN_ENV}, or --token")

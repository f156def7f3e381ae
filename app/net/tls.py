"""The station's own certificate for the optional `wss://` link (setting `tls`).

Made on first start with TLS on, self-signed, kept in the data folder (`tls/station.pem`, and
`tls/station-key.pem` readable by the owner only). No CA vouches for it: a Detector pins its
SHA-256 fingerprint, which the station shows beside the pairing token. The certificate never
expires (RFC 5280's 9999-12-31), so nothing depends on the clock.
"""

from __future__ import annotations

import datetime
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.net.fingerprint import fingerprint_of

CERT_FILE = "station.pem"
KEY_FILE = "station-key.pem"
_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)  # "no expiry" (RFC 5280 4.1.2.5)


@dataclass(frozen=True)
class StationCertificate:
    cert_path: Path
    key_path: Path
    fingerprint: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def station_certificate(folder: Path, common_name: str) -> StationCertificate:
    """The certificate kept in `folder`, made there first when there is none."""
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    if not (cert_path.exists() and key_path.exists()):
        _make(folder, cert_path, key_path, common_name)
    os.chmod(key_path, 0o600)  # a key copied in by hand keeps no group or world access
    der = x509.load_pem_x509_certificate(cert_path.read_bytes()).public_bytes(serialization.Encoding.DER)
    return StationCertificate(cert_path, key_path, fingerprint_of(der))


def _make(folder: Path, cert_path: Path, key_path: Path, common_name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (common_name or "ingest-station")[:64])])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE).not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    _write_atomically(key_path, key_pem, 0o600)
    _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)



def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Created with its final mode (the key is never readable by others, not even for a moment)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)

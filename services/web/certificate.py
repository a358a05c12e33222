"""The gateway's HTTPS certificate: the one given, or a self-signed one made on first run and reused.

A phone's browser gives the camera only to a secure page, so the gateway serves HTTPS on the LAN.
Without a certificate of the user's own, it makes one (an ECDSA P-256 key, valid for the
addresses it serves on) under the user's config folder, and reuses it while it is valid and names
every address asked for: the fingerprint the user checks on the phone stays the same run to run.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mvstylizer_common.errors import InvalidInputError

CERT_NAME, KEY_NAME = "gateway-cert.pem", "gateway-key.pem"
VALID_DAYS = 825  # the longest validity Apple's platforms accept for a server certificate
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class Certificate:
    certfile: str
    keyfile: str
    fingerprint: str  # SHA-256 of the certificate (DER), as browsers show it: AB:CD:...
    self_signed: bool = False
    made_now: bool = False


def config_dir() -> Path:
    """Where the self-signed certificate is kept: $XDG_CONFIG_HOME/mvstylizer (~/.config/mvstylizer)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mvstylizer"


def fingerprint(certificate: x509.Certificate) -> str:
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def given(certfile: str, keyfile: str) -> Certificate:
    """The user's certificate and key, checked to load and to belong together."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certfile, keyfile)
        first = x509.load_pem_x509_certificate(Path(certfile).read_bytes())
    except (OSError, ssl.SSLError, ValueError) as error:
        reason = getattr(error, "strerror", None) or getattr(error, "reason", None) or error
        raise InvalidInputError(f"--certfile {certfile} --keyfile {keyfile}: not a usable pair: {reason}") from None
    return Certificate(certfile, keyfile, fingerprint(first))


def self_signed(names: list[str], directory: Path | None = None) -> Certificate:
    """The self-signed certificate in `directory` (default: config_dir()) if it is valid for a while
    yet and names every one of `names` (host names or IP addresses); else a new one, written there."""
    directory = directory or config_dir()
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    existing = _reusable(cert_path, key_path, names)
    if existing is not None:
        return Certificate(str(cert_path), str(key_path), fingerprint(existing), self_signed=True)
    certificate, key = _make(names)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write(key_path, key_pem, 0o600)
        _write(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)
    except OSError as error:
        raise InvalidInputError(
            f"cannot keep a certificate in {directory}: {error.strerror or error} (give --certfile and --keyfile)"
        ) from None
    return Certificate(str(cert_path), str(key_path), fingerprint(certificate), self_signed=True, made_now=True)


def _reusable(cert_path: Path, key_path: Path, names: list[str]) -> x509.Certificate | None:
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        alternatives = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return None
    renew_at = certificate.not_valid_after_utc - datetime.timedelta(days=RENEW_BEFORE_DAYS)
    if datetime.datetime.now(datetime.UTC) >= renew_at:
        return None
    named = {str(ip) for ip in alternatives.get_values_for_type(x509.IPAddress)}
    named |= {name.lower() for name in alternatives.get_values_for_type(x509.DNSName)}
    wanted = {str(_ip(name)) if _ip(name) else name.lower() for name in names}
    return certificate if wanted <= named else None


def _make(names: list[str]) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mvstylizer web gateway (self-signed)")])
    alternatives: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        address = _ip(name)
        alternatives.append(x509.IPAddress(address) if address else x509.DNSName(name.lower()))
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return None


def _write(path: Path, data: bytes, mode: int) -> None:
    """Written whole or not at all (a file beside it, renamed over), with `mode` from the start."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    os.replace(partial, path)

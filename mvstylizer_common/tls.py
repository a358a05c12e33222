"""TLS and mutual TLS for the gRPC links (PEM files)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

from mvstylizer_common.errors import InvalidInputError


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InvalidInputError(f"{what} {path}: {error.strerror or error}") from error


@dataclass(frozen=True)
class ServerTls:
    cert_file: str  # the server's certificate chain (PEM)
    key_file: str  # its private key (PEM)
    client_ca_file: str | None = None  # set: mutual TLS, clients must present a certificate this CA signed

    def credentials(self) -> grpc.ServerCredentials:
        pair = (_read(self.key_file, "TLS key"), _read(self.cert_file, "TLS certificate"))
        if self.client_ca_file:
            return grpc.ssl_server_credentials(
                [pair], root_certificates=_read(self.client_ca_file, "client CA"), require_client_auth=True
            )
        return grpc.ssl_server_credentials([pair])


@dataclass(frozen=True)
class ClientTls:
    ca_file: str | None = None  # CA that signed the server's certificate (None: the system's roots)
    cert_file: str | None = None  # client certificate, for mutual TLS
    key_file: str | None = None
    server_name: str | None = None  # name to check the server's certificate against, if not the target's host

    def credentials(self) -> grpc.ChannelCredentials:
        if bool(self.cert_file) != bool(self.key_file):
            raise InvalidInputError("a client certificate needs its key, and a key its certificate")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file, "CA") if self.ca_file else None,
            private_key=_read(self.key_file, "TLS key") if self.key_file else None,
            certificate_chain=_read(self.cert_file, "TLS certificate") if self.cert_file else None,
        )


def server_tls_from_flags(cert: str | None, key: str | None, client_ca: str | None) -> ServerTls | None:
    if not cert and not key:
        if client_ca:
            raise InvalidInputError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not (cert and key):
        raise InvalidInputError("--tls-cert and --tls-key go together")
    return ServerTls(cert, key, client_ca)


def add_tls_flags(parser, client: bool = False) -> None:
    """The TLS flags of a service (client=False) or of the client."""
    if client:
        parser.add_argument("--tls-ca", help="use TLS; CA file (PEM) for the services' certificates")
        parser.add_argument("--tls-cert", help="client certificate (PEM), for mutual TLS")
        parser.add_argument("--tls-key", help="client private key (PEM), for mutual TLS")
        return
    parser.add_argument("--tls-cert", help="serve TLS with this certificate chain (PEM)")
    parser.add_argument("--tls-key", help="private key (PEM) of --tls-cert")
    parser.add_argument("--tls-client-ca", help="mutual TLS: require client certificates signed by this CA (PEM)")

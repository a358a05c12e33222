"""TLS and mutual TLS between client channels and the services, with certificates made here."""

import datetime
import ipaddress

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from client.remote.stylizer import open_channel
from mvstylizer_common.errors import InvalidInputError
from mvstylizer_common.tls import ClientTls, ServerTls, server_tls_from_flags
from protos.mvstylizer.v1 import stylizer_pb2, stylizer_pb2_grpc
from services.stylizer.server import SERVICE_NAME, create_server
from tests.servers import ServerThread


def _certificate(subject: str, key, issuer_name, issuer_key, ca: bool, sans=()):
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, certificate=None, key=None):
    if certificate is not None:
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files."""
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mvstylizer test CA")])
    ca = _certificate("mvstylizer test CA", ca_key, ca_name, ca_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    sans = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = _certificate("localhost", server_key, ca_name, ca_key, ca=False, sans=sans)
    client = _certificate("client", client_key, ca_name, ca_key, ca=False)
    return {
        "ca": _write(folder / "ca.pem", ca),
        "server_cert": _write(folder / "server.pem", server),
        "server_key": _write(folder / "server.key", key=server_key),
        "client_cert": _write(folder / "client.pem", client),
        "client_key": _write(folder / "client.key", key=client_key),
    }


def list_models(address: str, tls: ClientTls | None):
    with open_channel(address, tls=tls) as channel:
        return stylizer_pb2_grpc.StylizerStub(channel).ListModels(stylizer_pb2.ListModelsRequest(), timeout=10)


def serve(tls: ServerTls) -> ServerThread:
    return ServerThread(lambda host, port: create_server(host, port, tls=tls), SERVICE_NAME)


def test_tls_server_answers_tls_clients_that_trust_its_ca(pki):
    thread = serve(ServerTls(pki["server_cert"], pki["server_key"]))
    try:
        assert list_models(thread.address, ClientTls(pki["ca"])).models
        with pytest.raises(grpc.RpcError) as failure:
            list_models(thread.address, None)  # plaintext to a TLS port
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        thread.stop()


def test_mutual_tls_requires_a_client_certificate(pki):
    thread = serve(ServerTls(pki["server_cert"], pki["server_key"], pki["ca"]))
    try:
        with pytest.raises(grpc.RpcError) as failure:
            list_models(thread.address, ClientTls(pki["ca"]))
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert list_models(thread.address, ClientTls(pki["ca"], pki["client_cert"], pki["client_key"])).models
    finally:
        thread.stop()


def test_tls_flags_are_checked(pki, tmp_path):
    assert server_tls_from_flags(None, None, None) is None
    with pytest.raises(InvalidInputError, match="go together"):
        server_tls_from_flags(pki["server_cert"], None, None)
    with pytest.raises(InvalidInputError, match="needs --tls-cert"):
        server_tls_from_flags(None, None, pki["ca"])
    with pytest.raises(InvalidInputError, match="TLS certificate"):
        ServerTls(str(tmp_path / "missing.pem"), pki["server_key"]).credentials()
    with pytest.raises(InvalidInputError, match="needs its key"):
        ClientTls(pki["ca"], pki["client_cert"], None).credentials()

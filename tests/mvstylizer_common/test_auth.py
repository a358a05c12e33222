import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from client.remote.stylizer import open_channel
from mvstylizer_common.auth import TOKEN_ENV, resolve_token
from mvstylizer_common.errors import InvalidInputError
from protos.mvstylizer.v1 import interpolator_pb2, interpolator_pb2_grpc, stylizer_pb2, stylizer_pb2_grpc
from services.interpolator.server import SERVICE_NAME as INTERPOLATOR_SERVICE
from services.interpolator.server import create_server as create_interpolator
from services.stylizer.server import SERVICE_NAME as STYLIZER_SERVICE
from services.stylizer.server import create_server as create_stylizer
from tests.servers import ServerThread

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def guarded():
    stylizer = ServerThread(lambda h, p: create_stylizer(h, p, auth_token=TOKEN), STYLIZER_SERVICE)
    interpolator = ServerThread(lambda h, p: create_interpolator(h, p, auth_token=TOKEN), INTERPOLATOR_SERVICE)
    yield stylizer.address, interpolator.address
    stylizer.stop()
    interpolator.stop()


def list_models(address: str, token: str | None):
    with open_channel(address, token=token) as channel:
        return stylizer_pb2_grpc.StylizerStub(channel).ListModels(stylizer_pb2.ListModelsRequest(), timeout=10)


def test_calls_without_the_right_token_are_unauthenticated(guarded):
    stylizer, interpolator = guarded
    for token in (None, "wrong"):
        with pytest.raises(grpc.RpcError) as failure:
            list_models(stylizer, token)
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with open_channel(interpolator) as channel:
        call = interpolator_pb2_grpc.InterpolatorStub(channel).Interpolate(
            iter([interpolator_pb2.InterpolateRequest()]), timeout=10
        )
        with pytest.raises(grpc.RpcError) as failure:
            list(call)
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_the_right_token_gets_through_and_health_stays_open(guarded):
    stylizer, interpolator = guarded
    assert any(m.is_default for m in list_models(stylizer, TOKEN).models)
    for address, service in ((stylizer, STYLIZER_SERVICE), (interpolator, INTERPOLATOR_SERVICE)):
        with grpc.insecure_channel(address) as channel:
            answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service))
            assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_token_comes_from_a_file_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert resolve_token(None) is None
    monkeypatch.setenv(TOKEN_ENV, " from-env ")
    assert resolve_token(None) == "from-env"
    path = tmp_path / "token"
    path.write_text("from-file\n")
    assert resolve_token(str(path)) == "from-file"
    with pytest.raises(InvalidInputError, match="no token"):
        resolve_token(str(tmp_path / "missing"))

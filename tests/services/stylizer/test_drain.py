"""SIGTERM: the service reports NOT_SERVING, answers the key frames in flight, then exits cleanly."""

from __future__ import annotations

import signal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from client.remote.embedded import ServiceProcess
from mvstylizer_common.imagecodec import JPEG, encode_image
from services.stylizer.server import SERVICE_NAME
from tests.media import moving_square_frame
from tests.services.stylizer.test_server import Stream, config


def test_sigterm_drains_in_flight_key_frames_while_reporting_not_serving():
    service = ServiceProcess("services.stylizer", ["--grace-seconds", "20"])
    try:
        address = service.address
        with grpc.insecure_channel(address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(
                health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=60
            )
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
            stream = Stream(address, config())
            stream.receive()
            frame = encode_image(moving_square_frame(0, width=640, height=360), JPEG)
            for index in range(4):
                stream.send_frame(index, frame)
            assert stream.receive().key_frame.index == 0
            service.process.send_signal(signal.SIGTERM)
            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            # The key frames sent before the signal are still answered, in order.
            assert [stream.receive().key_frame.index for _ in range(3)] == [1, 2, 3]
            stream.close()
        assert service.process.wait(30) == 0
    finally:
        service.stop()

"""Container health probe through the standard gRPC health service.

    python -m mvstylizer_common.healthcheck ADDRESS [SERVICE] [--timeout S]

Exit 0 when the service (or the whole server, for SERVICE "") answers SERVING;
1 otherwise (NOT_SERVING while draining, unknown service, unreachable).
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(address: str, service: str = "", timeout: float = 3.0) -> str:
    """The serving status name ("SERVING", "NOT_SERVING", ...) or the gRPC error code's name."""
    with grpc.insecure_channel(address) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            return error.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mvstylizer_common.healthcheck", description=__doc__)
    parser.add_argument("address", help="host:port of the gRPC server")
    parser.add_argument("service", nargs="?", default="", help="fully qualified service name ('' = server)")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    status = check(args.address, args.service, args.timeout)
    print(status)
    sys.exit(0 if status == "SERVING" else 1)


if __name__ == "__main__":
    main()

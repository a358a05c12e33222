"""What both gRPC servers share: health, reflection, error mapping, run loop."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from mvstylizer_common.errors import MvStylizerError
from mvstylizer_common.grpc_options import DEFAULT_MAX_MESSAGE_BYTES
from mvstylizer_common.status import RETRY_AFTER_KEY, status_of
from mvstylizer_common.tls import add_tls_flags

log = logging.getLogger(__name__)


def add_health_and_reflection(server: grpc.aio.Server, service_names: Iterable[str]) -> health.aio.HealthServicer:
    """Register the standard health service (all SERVING) and server reflection."""
    names = list(service_names)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
        server,
    )
    return health_servicer


async def set_serving(health_servicer: health.aio.HealthServicer, service_names: Iterable[str], serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    for name in ["", *service_names]:
        await health_servicer.set(name, status)


async def abort_with(context: grpc.aio.ServicerContext, error: MvStylizerError) -> None:
    """End the call with the status code the error class maps to (and a retry hint when it has one)."""
    retry_after_ms = getattr(error, "retry_after_ms", None)
    if retry_after_ms is not None:
        context.set_trailing_metadata(((RETRY_AFTER_KEY, str(retry_after_ms)),))
    await context.abort(status_of(error), str(error))


def bind(server: grpc.aio.Server, host: str, port: int, credentials: grpc.ServerCredentials | None = None) -> int:
    """Bind a port (TLS when credentials are given); returns the port bound (port 0 picks a free one)."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    bound = server.add_secure_port(address, credentials) if credentials else server.add_insecure_port(address)
    if bound == 0:
        raise OSError(f"could not bind {address}")
    return bound


def announce_listening(service: str, port: int) -> None:
    """One JSON line on stdout, so a parent process learns the port it got."""
    sys.stdout.write(json.dumps({"event": "listening", "service": service, "port": port}) + "\n")
    sys.stdout.flush()


async def serve_until_signalled(
    server: grpc.aio.Server,
    health_servicer: health.aio.HealthServicer,
    service_names: Iterable[str],
    grace_seconds: float,
) -> None:
    """Serve until SIGINT/SIGTERM, then report NOT_SERVING and drain within the grace period."""
    names = list(service_names)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down (grace %.1fs)", grace_seconds)
    await set_serving(health_servicer, names, serving=False)
    await server.stop(grace_seconds)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line (time, level, logger, message, and any exception), for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def add_service_flags(parser: argparse.ArgumentParser, service: str, default_port: int) -> None:
    """The flags every service has: address, message limit, shutdown grace, logs, access, TLS.

    Defaults come from MVS_<SERVICE>_HOST / MVS_<SERVICE>_PORT and the shared MVS_* variables."""
    env = os.environ.get
    prefix = f"MVS_{service.upper()}"
    parser.add_argument("--host", default=env(f"{prefix}_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port",
        type=int,
        default=int(env(f"{prefix}_PORT", str(default_port))),
        help="0 picks a free port (announced on stdout)",
    )
    parser.add_argument("--max-message-mb", type=int, default=DEFAULT_MAX_MESSAGE_BYTES >> 20)
    parser.add_argument("--grace-seconds", type=float, default=5.0)
    parser.add_argument("--log-level", default=env("MVS_LOG_LEVEL", "info"))
    parser.add_argument(
        "--log-format", choices=["text", "json"], default=env("MVS_LOG_FORMAT", "text"), help="log lines"
    )
    parser.add_argument(
        "--auth-token-file",
        help="require 'authorization: Bearer <token>' on calls (token: first line of this file; "
        "default: $MVS_AUTH_TOKEN when set); health and reflection stay open",
    )
    add_tls_flags(parser)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Logs to stderr, as text or (log_format="json") as one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler], force=True)

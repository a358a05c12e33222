"""Run the stylizer service: python -m services.stylizer --port 50051 [--device cuda]."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from mvstylizer_common.auth import resolve_token
from mvstylizer_common.errors import InvalidInputError, MvStylizerError
from mvstylizer_common.malloc import keep_large_buffers
from mvstylizer_common.parent_watch import exit_with_parent
from mvstylizer_common.serving import (
    add_service_flags,
    announce_listening,
    configure_logging,
    serve_until_signalled,
    set_serving,
)
from mvstylizer_common.tls import server_tls_from_flags
from services.stylizer.batcher import BatchSettings
from services.stylizer.metrics import StylizerMetrics
from services.stylizer.models import DEFAULT_MODEL, list_models
from services.stylizer.server import DEFAULT_CONFIG_TIMEOUT_S, SERVICE_NAME, create_server


def build_parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m services.stylizer", description="Stylizer gRPC service.")
    add_service_flags(parser, "stylizer", 50051)
    parser.add_argument(
        "--model",
        default=env("MVS_MODEL", DEFAULT_MODEL),
        choices=[spec.name for spec in list_models()],
        help="default model for sessions",
    )
    parser.add_argument(
        "--weights",
        action="append",
        default=[],
        metavar="[MODEL=]PATH",
        help="weight file for a model (repeatable); a bare PATH is for the --model model",
    )
    parser.add_argument(
        "--smoothing-weights",
        default=env("MVS_SMOOTHING_WEIGHTS"),
        help="meta-smoothing weight file (default: shipped)",
    )
    parser.add_argument("--device", default=env("MVS_DEVICE", "cpu"), help="cpu, cuda or cuda:N")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=int(env("MVS_METRICS_PORT", "-1")),
        help="serve Prometheus metrics at http://HOST:PORT/metrics (0 picks a free port; default: off)",
    )
    parser.add_argument(
        "--config-timeout-seconds",
        type=float,
        default=float(env("MVS_CONFIG_TIMEOUT_SECONDS", DEFAULT_CONFIG_TIMEOUT_S)),
        help="end streams that send no SessionConfig within this time (DEADLINE_EXCEEDED)",
    )
    batching = parser.add_argument_group("batching of key frames across sessions")
    batching.add_argument(
        "--max-batch",
        type=int,
        default=int(env("MVS_MAX_BATCH", BatchSettings.max_batch)),
        help="key frames per batch (1: no batching)",
    )
    batching.add_argument(
        "--max-batch-delay-ms",
        type=float,
        default=float(env("MVS_MAX_BATCH_DELAY_MS", BatchSettings.max_delay_s * 1e3)),
        help="longest a key frame waits for a batch to fill",
    )
    batching.add_argument(
        "--max-queue",
        type=int,
        default=int(env("MVS_MAX_QUEUE", BatchSettings.max_queue)),
        help="key frames waiting across all sessions before new ones are refused with RESOURCE_EXHAUSTED",
    )
    batching.add_argument(
        "--workers",
        type=int,
        default=int(env("MVS_WORKERS", BatchSettings.workers)),
        help="threads running a batch's key frames (0: one per core on the CPU, 1 on a GPU)",
    )
    return parser


def batch_settings(args: argparse.Namespace) -> BatchSettings:
    workers = args.workers or (0 if args.device == "cpu" else 1)
    try:
        return BatchSettings(args.max_batch, args.max_batch_delay_ms / 1e3, args.max_queue, workers)
    except ValueError as error:
        raise InvalidInputError(str(error)) from None


def main(argv: list[str] | None = None) -> None:
    exit_with_parent()
    keep_large_buffers()
    parser = build_parser()
    args = parser.parse_args(argv)
    weights = {}
    model_names = {spec.name for spec in list_models()}
    for item in args.weights:
        name, sep, path = item.partition("=")
        if not sep or name not in model_names:
            name, path = args.model, item
        weights[name] = path
    configure_logging(args.log_level, args.log_format)
    try:
        asyncio.run(_serve(args, weights))
    except MvStylizerError as error:
        print(f"stylizer: {error}", file=sys.stderr)
        sys.exit(2)


async def _serve(args: argparse.Namespace, weights: dict[str, str]) -> None:
    metrics = StylizerMetrics()
    server, port, health_servicer = create_server(
        args.host,
        args.port,
        device=args.device,
        default_model=args.model,
        weights=weights,
        smoothing_weights=args.smoothing_weights,
        max_message_bytes=args.max_message_mb << 20,
        auth_token=resolve_token(args.auth_token_file),
        tls=server_tls_from_flags(args.tls_cert, args.tls_key, args.tls_client_ca),
        metrics=metrics,
        batching=batch_settings(args),
        config_timeout_s=args.config_timeout_seconds,
    )
    if args.metrics_port >= 0:
        bound_metrics_port = metrics.serve(args.host, args.metrics_port)
        print(f"stylizer: metrics at http://{args.host}:{bound_metrics_port}/metrics", file=sys.stderr)
    await server.start()
    await set_serving(health_servicer, [SERVICE_NAME], serving=True)
    announce_listening("stylizer", port)
    await serve_until_signalled(server, health_servicer, [SERVICE_NAME], args.grace_seconds)


if __name__ == "__main__":
    main()

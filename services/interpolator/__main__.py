"""Run the interpolator service: python -m services.interpolator --port 50052."""

from __future__ import annotations

import argparse
import asyncio
import sys

from mvstylizer_common.auth import resolve_token
from mvstylizer_common.errors import MvStylizerError
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
from services.interpolator.server import SERVICE_NAME, create_server


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.interpolator", description="Interpolator gRPC service.")
    add_service_flags(parser, "interpolator", 50052)
    return parser


def main(argv: list[str] | None = None) -> None:
    exit_with_parent()
    keep_large_buffers()
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.log_format)
    try:
        asyncio.run(_serve(args))
    except MvStylizerError as error:
        print(f"interpolator: {error}", file=sys.stderr)
        sys.exit(2)


async def _serve(args: argparse.Namespace) -> None:
    server, port, health_servicer = create_server(
        args.host,
        args.port,
        max_message_bytes=args.max_message_mb << 20,
        auth_token=resolve_token(args.auth_token_file),
        tls=server_tls_from_flags(args.tls_cert, args.tls_key, args.tls_client_ca),
    )
    await server.start()
    await set_serving(health_servicer, [SERVICE_NAME], serving=True)
    announce_listening("interpolator", port)
    await serve_until_signalled(server, health_servicer, [SERVICE_NAME], args.grace_seconds)


if __name__ == "__main__":
    main()

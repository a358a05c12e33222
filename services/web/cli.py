"""The gateway's own command-line flags (where it serves, its certificate, its limits), for `mvstylizer web`."""

from __future__ import annotations

import argparse
from pathlib import Path

from services.web.gateway import AUTO, DEFAULT_PORT, OFF, ON, GatewaySettings
from services.web.limits import MB, SessionLimits

_DEFAULTS = SessionLimits()


def add_web_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to serve on (default: loopback; 0.0.0.0: every address, for a phone on the LAN, over HTTPS)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port to serve on (0: a free one)")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate chain (PEM) (with --keyfile)")
    parser.add_argument("--keyfile", help="private key (PEM) of --certfile")
    scheme = parser.add_mutually_exclusive_group()
    scheme.add_argument(
        "--https",
        dest="web_tls",
        action="store_const",
        const=ON,
        default=AUTO,
        help="serve HTTPS on loopback too (self-signed unless --certfile); off loopback HTTPS is the default",
    )
    scheme.add_argument(
        "--http", dest="web_tls", action="store_const", const=OFF, help="serve plain HTTP (loopback only)"
    )
    parser.add_argument(
        "--max-sessions", type=int, default=_DEFAULTS.max_sessions, help="browser sessions stylizing at once"
    )
    parser.add_argument(
        "--max-message-mb",
        type=float,
        default=_DEFAULTS.max_message_bytes / MB,
        help="largest WebSocket message (one request: a key frame, or the config with its style photo)",
    )
    parser.add_argument(
        "--max-key-rate",
        type=float,
        default=_DEFAULTS.max_key_rate,
        help="key frames a second one session may send (bursts of one second's worth)",
    )
    parser.add_argument(
        "--max-style-mb",
        type=float,
        default=_DEFAULTS.max_style_bytes / MB,
        help=f"largest style photo a page may send (and at most {_DEFAULTS.max_style_pixels / 1e6:g} Mpx)",
    )
    parser.add_argument(
        "--styles", type=Path, help="a folder of style photos the page offers in its picker (besides the phone's own)"
    )
    parser.add_argument("--no-qr", action="store_true", help="print the address without its QR code")


def web_settings(args: argparse.Namespace) -> GatewaySettings:
    return GatewaySettings(
        host=args.host,
        port=args.port,
        tls=args.web_tls,
        certfile=args.certfile,
        keyfile=args.keyfile,
        styles_dir=args.styles,
        limits=SessionLimits(
            max_sessions=args.max_sessions,
            max_message_bytes=round(args.max_message_mb * MB),
            max_key_rate=args.max_key_rate,
            max_style_bytes=round(args.max_style_mb * MB),
        ),
    )

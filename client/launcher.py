"""The `mvstylizer` command's entry point: starts the embedded stylizer before the client's imports.

The stylizer's start (the torch import, about two seconds) is most of the time to a first
output frame; the client's own imports and checks take about one more. A command that will
run on the embedded stylizer (no --stylizer given) starts it here, first, with its arguments
to follow once they are parsed, so the two overlap. If the command ends up not needing it
(bad input, say), it is stopped unused. MVS_WARM_START=0 turns this off.
"""

from __future__ import annotations

import os
import signal
import sys

# Commands that start an embedded stylizer unless given --stylizer HOST:PORT.
EMBEDDING_COMMANDS = frozenset({"stylize", "stylize-image", "live", "demo", "web"})


def wants_embedded_stylizer(argv: list[str]) -> bool:
    """A cheap look at the command line, before argparse (which needs the heavy imports). A wrong
    guess costs only a stopped process: the parsed arguments decide what runs."""
    if not argv or argv[0] not in EMBEDDING_COMMANDS:
        return False
    return not any(arg in ("-h", "--help") or arg == "--stylizer" or arg.startswith("--stylizer=") for arg in argv)


# The exit status of a run stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130


def main() -> None:
    # Ctrl-C during the imports is noted and honoured once they end (a second or two): raised inside
    # an extension module's import, KeyboardInterrupt comes out as an ImportError with a traceback.
    interrupted: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, _frame: interrupted.append(signum))
    try:
        if os.environ.get("MVS_WARM_START", "1") != "0" and wants_embedded_stylizer(sys.argv[1:]):
            from client.remote.embedded import prestart

            prestart("services.stylizer")
        from client.cli import main as cli_main
    except KeyboardInterrupt:  # from before the handler, or from Python code of an import
        interrupted.append(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if interrupted:
            raise KeyboardInterrupt
        cli_main()  # handles Ctrl-C during a run itself (its clean-up, its message)
    except KeyboardInterrupt:
        # Ctrl-C before the run began: nothing has been done yet, so one line and no traceback;
        # a prestarted stylizer is stopped at exit.
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()

"""`python -m mvstylizer_common.warmstart MODULE`: a service started before its arguments are known.

A command that will need a local service starts it this way before its own imports and checks,
so that the service's slow start (the torch import) overlaps them. The process imports
`MODULE.__main__`, then reads one line from stdin: a JSON list of arguments for that module's
main(). End of input or an empty line means the service is not wanted after all: it exits at
once, having served nothing.
"""

from __future__ import annotations

import importlib
import json
import sys

from mvstylizer_common.parent_watch import exit_with_parent


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        sys.exit("usage: python -m mvstylizer_common.warmstart MODULE (its arguments follow on stdin, as JSON)")
    # A parent gone during the imports ends this process too (SIGTERM, not yet handled, ends it).
    exit_with_parent()
    service = importlib.import_module(f"{args[0]}.__main__")
    line = sys.stdin.readline()
    if not line.strip():
        return
    arguments = json.loads(line)
    if not isinstance(arguments, list) or not all(isinstance(item, str) for item in arguments):
        sys.exit("warmstart: expected a JSON list of strings on stdin")
    sys.stdin.close()
    service.main(arguments)


if __name__ == "__main__":
    main()

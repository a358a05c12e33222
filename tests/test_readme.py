"""The README's commands are the real ones: each parses with the command line it names."""

import re
import shlex
from pathlib import Path

import pytest

from client.cli import build_parser
from services.stylizer.__main__ import build_parser as stylizer_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("mvstylizer")]


def test_the_readme_shows_the_common_commands():
    commands = {shlex.split(c)[0] + " " + shlex.split(c)[1] for c in readme_commands() if len(shlex.split(c)) > 1}
    assert {"mvstylizer stylize", "mvstylizer stylize-image", "mvstylizer live"} <= commands


@pytest.mark.parametrize("command", readme_commands())
def test_each_readme_command_parses(command):
    program, *args = shlex.split(command)
    parser = {"mvstylizer": build_parser, "mvstylizer-stylizer": stylizer_parser}[program]()
    if program == "mvstylizer" and args and "*" in " ".join(args):
        args = [a if "*" not in a else a.replace("*", "clip") for a in args]
    parser.parse_args(args)  # SystemExit (a test failure) on any flag the command does not take

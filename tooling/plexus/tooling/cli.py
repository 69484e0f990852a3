"""`plexus-lambda`: the command-line entry point.

Each subcommand lives in its own module and is imported only when chosen, so that
`plexus-lambda push` does not pay for the worker's imports and vice versa.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

# subcommand -> (module, one-line help). Each module has `add_arguments(parser)` and
# `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "dev": ("plexus.tooling.dev", "run score-processing over a seeded local Plexus API, offline"),
    "invoke": ("plexus.tooling.invoke", "invoke a handler folder under awslambdaric locally"),
    "push": ("plexus.tooling.push", "push image archives to Amazon ECR, optionally deploy them"),
    "score": ("plexus.cli.score", "run one score on a text locally and print its result as JSON"),
    "work": ("plexus.cli.work", "claim and score pending jobs once, outside Lambda"),
}


class _Parser(argparse.ArgumentParser):
    """A usage error is one `error: ...` line and exit code 2, like every other CLI error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _Parser(prog="plexus-lambda", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    # Parse only the command name first, then let its module define the rest.
    known, rest = parser.parse_known_args(argv[:1])
    module = importlib.import_module(COMMANDS[known.command][0])
    cmd_parser = _Parser(
        prog=f"plexus-lambda {known.command}", description=COMMANDS[known.command][1]
    )
    module.add_arguments(cmd_parser)
    args = cmd_parser.parse_args(argv[1:] + rest)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

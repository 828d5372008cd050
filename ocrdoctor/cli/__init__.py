"""The command line: one module per command; the group in `common` imports a command's module when
that command runs (`common.COMMANDS`).

Errors are one line on stderr; exit codes are the contract docs/stability.md keeps (0 clean,
1 findings at --fail-on, 2 the run itself failed).
"""

from __future__ import annotations

from .common import cli


def main() -> None:
    cli()

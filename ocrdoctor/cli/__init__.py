"""The command line: one module per command; the group in `common` imports a command's module when
that command runs (`common.COMMANDS`).

Errors are one line on stderr; exit codes follow DESIGN.md (0 clean, 1 findings at --fail-on,
2 the run itself failed).
"""

from __future__ import annotations

from .check import limited_memory, wants_progress  # noqa: F401  (named here for scripts and tests)
from .common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, FORMATS, cli, is_terminal, use_color  # noqa: F401


def main() -> None:
    cli()

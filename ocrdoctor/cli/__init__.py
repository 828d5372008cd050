"""The command line: one module per command, each registered on the group in `common`.

Errors are one line on stderr; exit codes follow DESIGN.md (0 clean, 1 findings at --fail-on,
2 the run itself failed). Importing this package registers every command.
"""

from __future__ import annotations

from . import bench, check, demo, env, export, fix, rules  # noqa: F401  (each registers its command)
from .check import limited_memory, wants_progress  # noqa: F401  (named here for scripts and tests)
from .common import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, FORMATS, cli, is_terminal, use_color  # noqa: F401


def main() -> None:
    cli()

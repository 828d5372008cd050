"""What every command shares: the group, one-line failures, exit codes, colour and terminals."""

from __future__ import annotations

import contextlib
import os
import sys

import click

from ..core.formats import format_names, options_for

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2  # check takes 1 from Report.exit_code (--fail-on)


# command -> the module that defines it: a run imports the one command it runs
COMMANDS = {"check": "check", "env": "env", "fix": "fix", "export": "export", "bench": "bench", "rules": "rules",
            "explain": "rules", "demo": "demo", "compare": "compare"}


class Group(click.Group):
    """Turns every failure of the run itself into one line on stderr and exit code 2; imports each command's
    module when that command is asked for (click's lazy-group pattern)."""

    def list_commands(self, ctx) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx, name: str):
        import importlib

        if name not in COMMANDS:
            return None
        return getattr(importlib.import_module(f"{__package__}.{COMMANDS[name]}"), name)

    def main(self, args=None, prog_name=None, **extra):  # noqa: D401 - click's signature
        from ..core.config import ConfigError
        from ..core.engine import UsageError
        from ..core.extras import MissingExtra
        from ..core.registry import one_line

        extra.pop("standalone_mode", None)
        _notes_as_lines()
        try:
            code = super().main(args, prog_name or "ocrdoctor", standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `ocrdoctor`: the help, as click shows it
            click.echo(exc.ctx.get_help(), err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            fail(exc.format_message())
        except (UsageError, ConfigError, MissingExtra) as exc:
            fail(str(exc))
        except (click.Abort, KeyboardInterrupt):
            fail("interrupted")
        except Exception as exc:  # an internal error is still one line (set OCRDOCTOR_DEBUG for the traceback)
            if os.environ.get("OCRDOCTOR_DEBUG"):
                raise
            fail(f"internal error: {one_line(exc)}")
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _notes_as_lines() -> None:
    """ocrdoctor's own notes (core.extras.Note) as one `note:` line on stderr; other warnings as Python shows them."""
    import warnings

    from ..core.extras import Note

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, Note):
            click.echo(f"note: {message}", err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def fail(message: str) -> None:
    click.echo(f"ocrdoctor: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def is_terminal(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


@contextlib.contextmanager
def phases(command: str):
    """`phase(text)` shows what a long command is doing, on one stderr line that the next phase
    replaces and the end clears; only on a terminal (None otherwise: pipes, CI logs and JSON stay clean)."""
    if not is_terminal(sys.stderr):
        yield None
        return
    shown = [0]

    def phase(text: str) -> None:
        line = f"{command}: {text} ..."
        sys.stderr.write("\r" + line.ljust(shown[0]))
        sys.stderr.flush()
        shown[0] = max(shown[0], len(line))

    try:
        yield phase
    finally:
        if shown[0]:
            sys.stderr.write("\r" + " " * shown[0] + "\r")
            sys.stderr.flush()


def use_color(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to a non-empty value (no-color.org)."""
    return not os.environ.get("NO_COLOR") and is_terminal(stream or sys.stdout)


@click.group(name="ocrdoctor", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ocrdoctor", prog_name="ocrdoctor")
def cli() -> None:
    """Find why a docTR / PyTorch OCR model is slow, wrong or unloadable, and print the fix."""


FORMATS = list(format_names())  # the format registry's (core/formats.py): the renderers registered there


def rendered(report, fmt: str, **wanted) -> str:
    """The report in `fmt`, given those of the command's options (`color`, `verbose`, `fail_on`) it takes."""

    from ..render import render

    return render(report, fmt, **options_for(fmt, **wanted))


def write_report(path, text: str) -> None:
    """A report file, whole or not at all (a temporary sibling renamed over it), so a CI upload never reads half a
    SARIF file. The output guard (run/guard.py) was held before the run."""
    from ..core.engine import UsageError
    from ..treat.fix import FixError, write_atomically

    try:
        write_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), lambda tmp: None)
    except FixError as exc:
        raise UsageError(str(exc)) from None

"""The command line: check, rules, explain, demo. Errors are one line; exit codes follow DESIGN.md."""

from __future__ import annotations

import os
import sys
from typing import Sequence

import click

from .findings import Severity

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class Group(click.Group):
    """Turns every failure of the run itself into one line on stderr and exit code 2."""

    def main(self, args=None, prog_name=None, **extra):  # noqa: D401 - click's signature
        from .api import UsageError
        from .registry import one_line

        extra.pop("standalone_mode", None)
        try:
            code = super().main(args, prog_name or "ocrdoctor", standalone_mode=False, **extra)
        except click.ClickException as exc:
            _fail(exc.format_message())
        except UsageError as exc:
            _fail(str(exc))
        except (click.Abort, KeyboardInterrupt):
            _fail("interrupted")
        except Exception as exc:  # an internal error is still one line (set OCRDOCTOR_DEBUG for the traceback)
            if os.environ.get("OCRDOCTOR_DEBUG"):
                raise
            _fail(f"internal error: {one_line(exc)}")
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _fail(message: str) -> None:
    click.echo(f"ocrdoctor: error: {message}", err=True)
    sys.exit(EXIT_USAGE)


def _codes(values: Sequence[str]) -> list[str]:
    """--select OD1,OD205 --select OD3 -> ['OD1', 'OD205', 'OD3']"""
    return [c.strip().upper() for v in values for c in v.split(",") if c.strip()]


def use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ocrdoctor", prog_name="ocrdoctor")
def cli() -> None:
    """Find why a docTR / PyTorch OCR model is slow, wrong or unloadable, and print the fix."""


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--arch", help="Check the weights against this docTR architecture (see `ocrdoctor rules --archs`).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]), default="error", show_default=True,
              help="Exit 1 when a finding reaches this severity.")
@click.option("--select", multiple=True, help="Only these rule codes or prefixes (OD1, OD103); repeat or comma-separate.")
@click.option("--ignore", multiple=True, help="Skip these rule codes or prefixes.")
@click.option("-v", "--verbose", is_flag=True, help="Also list the rules that were skipped, and why.")
def check(paths, arch, fmt, fail_on, select, ignore, verbose) -> int:
    """Check checkpoint files and folders (*.pt *.pth *.bin *.ckpt *.safetensors)."""
    from .api import check_paths
    from .render import render

    report = check_paths(paths, arch=arch, select=_codes(select), ignore=_codes(ignore))
    color = use_color()
    click.echo(render(report, fmt, color=color, verbose=verbose), nl=False, color=color)
    return report.exit_code(Severity(fail_on))


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--archs", is_flag=True, help="List the docTR architectures ocrdoctor can identify instead.")
def rules(fmt, archs) -> int:
    """List every rule: code, name, severity, target and summary."""
    from .rulesdoc import render_archs, render_rules

    click.echo(render_archs(fmt) if archs else render_rules(fmt), nl=False)
    return EXIT_OK


@cli.command()
@click.argument("code")
def explain(code) -> int:
    """Show one rule's documentation: what, why, fix, example."""
    from .api import UsageError
    from .registry import default

    rule = default.load().rules.get(code.strip().upper())
    if rule is None:
        raise UsageError(f"unknown rule code '{code}' (see `ocrdoctor rules`)")
    click.echo(rule.explain())
    return EXIT_OK


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), help="Keep the demo checkpoint in this folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def demo(out, fmt) -> int:
    """Write a realistic broken docTR training checkpoint, check it and show the fixes."""
    from .demo import run_demo

    run_demo(out, fmt, color=use_color())
    return EXIT_OK


def main() -> None:
    cli()

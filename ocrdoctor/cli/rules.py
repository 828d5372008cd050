"""`ocrdoctor rules` and `ocrdoctor explain`: the catalog, and one rule's page."""

from __future__ import annotations

import click

from . import common


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--archs", is_flag=True, help="List the docTR architectures ocrdoctor can identify instead.")
@click.option("--vocabs", is_flag=True, help="List the installed docTR's vocabs (what --vocab takes by name) instead.")
@click.option("--builtin-only", is_flag=True, help="Leave out rules added by plugins.")
def rules(fmt, archs, vocabs, builtin_only) -> int:
    """List every rule: code, name, severity, target and summary."""
    from ..render.rulesdoc import render_archs, render_rules, render_vocabs

    if archs and vocabs:
        from ..core.engine import UsageError

        raise UsageError("--archs and --vocabs are two lists: ask for one")
    click.echo(render_vocabs(fmt) if vocabs else render_archs(fmt) if archs else render_rules(fmt, builtin_only),
               nl=False)
    return common.EXIT_OK


@click.command()
@click.argument("code")
def explain(code) -> int:
    """Show one rule's documentation: what, why, fix, example."""
    from ..core.engine import UsageError
    from ..core.registry import default

    rule = default.load().rules.get(code.strip().upper())
    if rule is None:
        raise UsageError(f"unknown rule code '{code}' (see `ocrdoctor rules`)")
    click.echo(rule.explain())
    return common.EXIT_OK

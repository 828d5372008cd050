"""`ocrdoctor export`: a checkpoint to ONNX through docTR, proven before it is written."""

from __future__ import annotations

from pathlib import Path

import click

from . import common


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--arch", required=True, help="The docTR architecture of the checkpoint (ocrdoctor rules --archs).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the ONNX file.")
@click.option("--fp16", is_flag=True, help="Convert weights and activations to float16 (changes numerics).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--vocab", help="The recognizer's vocab when the file stores none (recorded in the export's metadata): "
                              "a docTR vocab's name, a file, or the characters.")
@click.option("--key", "key", help='Which weights in the file: a dotted key path (model.reco, ema).')
@click.option("--repeat", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Timed runs for each latency (after one warm-up).")
@click.option("--trust", multiple=True, metavar="GLOB",
              help="Trust these classes (fnmatch on module.qualname, e.g. 'mypkg.models.*') in a pickled model.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Read settings (select, ignore, severity) from this TOML file.")
def export(source, arch, output, fp16, force, vocab, key, repeat, trust, config) -> int:
    """Export a checkpoint to ONNX through docTR, then prove it: onnx.checker, onnxruntime against
    PyTorch on sample pages, both latencies, and the OD4xx rules. Exit 1 (nothing written) on an error finding."""
    from ..core.extras import require_doctr

    require_doctr("ocrdoctor export")
    from ..core.config import load_settings
    from ..core.engine import UsageError
    from ..run.plan import key_path, plan_for
    from ..treat.export import export_onnx
    from ..treat.fix import FixError

    plan = plan_for(load_settings(config).merged(trusted_globals=trust or None), ("checkpoint", "onnx"))
    try:
        with common.phases("export") as phase:
            result = export_onnx(source, arch, output, plan=plan, fp16=fp16, force=force, repeat=repeat,
                                 key=key_path(key), progress=phase, vocab=vocab)
    except FixError as exc:  # ExportError, or the output checks shared with `fix`
        raise UsageError(str(exc)) from None
    click.echo(result.describe())
    if result.report.findings:
        click.echo(common.rendered(result.report, "text", color=common.use_color()), nl=False, color=common.use_color())
    return common.EXIT_OK if result.written else common.EXIT_FINDINGS

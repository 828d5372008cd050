"""`ocrdoctor fix`: a clean, verified copy of a checkpoint."""

from __future__ import annotations

from pathlib import Path

import click

from . import common


@click.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the clean checkpoint (never the input); a folder for a file holding several models.")
@click.option("--arch", help="The docTR architecture (default: identified from the keys); FAST is reparameterized.")
@click.option("--vocab", help="The recognizer's vocab, kept in the config sidecar when the file stores none: a docTR "
                              "vocab's name, a file, or the characters.")
@click.option("--key", "key", help='Which weights: a dotted key path (model.reco, ema, model["a.b"]).')
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]),
              help="Cast floating tensors (float16 / bfloat16 change numerics; float32 ends a half-done cast).")
@click.option("--half", is_flag=True, help="Same as --dtype float16.")
@click.option("--safetensors", "as_safetensors", is_flag=True, help="Write safetensors (the config in its metadata).")
@click.option("--trust", multiple=True, metavar="GLOB",
              help="Trust these classes (fnmatch on module.qualname, e.g. 'mypkg.models.*') in a pickled model.")
@click.option("--force", is_flag=True, help="Overwrite an existing output file and its config sidecar.")
def fix(source, output, arch, vocab, key, dtype, half, as_safetensors, trust, force) -> int:
    """Write a clean copy of a checkpoint (bare state_dict, CPU, no training state, its config kept) and verify it."""
    from ..core.extras import require_doctr

    require_doctr("ocrdoctor fix")
    from ..core.config import load_settings
    from ..core.engine import UsageError
    from ..run.plan import key_path
    from ..treat.fix import FixError, fix_checkpoint

    if half and dtype not in (None, "float16"):
        raise UsageError(f"--half means --dtype float16: it conflicts with --dtype {dtype}")
    try:
        with common.phases("fix") as phase:
            results = fix_checkpoint(source, output, arch=arch, dtype="float16" if half else dtype,
                                     safetensors=as_safetensors, force=force, key=key_path(key), progress=phase,
                                     trusted=trust or load_settings().trusted_globals, vocab=vocab)
    except FixError as exc:
        raise UsageError(str(exc)) from None
    click.echo("\n".join(r.describe() for r in results))
    return common.EXIT_OK

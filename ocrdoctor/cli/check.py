"""`ocrdoctor check`: files, folders and deployments through the rules, rendered in any format."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from pathlib import Path

import click

from ..core.findings import Severity
from . import common

PROGRESS_MIN_FILES, PROGRESS_MIN_BYTES = 8, 256 << 20


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--arch", help="Check the weights against this docTR architecture (see `ocrdoctor rules --archs`), "
                             "then load them into it and check the model.")
@click.option("--vocab", help="The recognizer's vocab, to build it with --arch or --reco: a docTR vocab's name "
                              "(ocrdoctor rules --vocabs), a file, or the characters.")
@click.option("--key", "key", help='Which weights in each file: a dotted key path (model.reco, ema, model["a.b"]).')
@click.option("--det", type=click.Path(dir_okay=False, path_type=Path), help="Detection checkpoint of a deployment.")
@click.option("--det-arch", help="Its docTR architecture.")
@click.option("--reco", type=click.Path(dir_okay=False, path_type=Path), help="Recognition checkpoint of a deployment.")
@click.option("--reco-arch", help="Its docTR architecture.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the deployment puts the predictor.")
@click.option("--half", is_flag=True, help="The deployment casts the predictor to float16.")
@click.option("--format", "fmt", type=click.Choice(common.FORMATS),
              help="Output format; concise is one line per finding.  [default: text, or `format` in the config]")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the report in --format to this file; the log gets one line per finding (concise).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]),
              help="Exit 1 when a finding reaches this severity.  [default: error]")
@click.option("--select", multiple=True,
              help="Only these rule codes or prefixes (OD1, OD103); repeat or comma-separate.")
@click.option("--ignore", multiple=True, help="Skip these rule codes or prefixes.")
@click.option("--include", multiple=True, help="Glob of files to check inside folders (default: checkpoint suffixes).")
@click.option("--exclude", multiple=True, help="Glob of files to leave out inside folders.")
@click.option("--jobs", "-j", type=click.IntRange(min=0),
              help="Check this many files at once (0: one per CPU).  [default: 1]")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Read settings from this TOML file instead of the nearest pyproject.toml.")
@click.option("--values", type=click.Choice(["all", "none"]),
              help="Read tensor values for OD109, OD110 and OD116 (none: skip those rules).  "
                   "[default: all for local files, none for URLs]")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
              help="Seconds one remote request may take before it is retried.  [default: 30]")
@click.option("--no-limits", is_flag=True, help="Lift the reader's limits on hostile structure (OD125): "
                                                  "for a genuine giant only.")
@click.option("--force", is_flag=True, help="Let --output replace an existing file (never a checkpoint, an ONNX "
                                            "export or a file the check reads).")
@click.option("--trust", multiple=True, metavar="GLOB",
              help="Trust these classes (fnmatch on module.qualname, e.g. 'mypkg.models.*') in a pickled model.")
@click.option("-v", "--verbose", is_flag=True, help="Also list the rules that were skipped, and why.")
def check(paths, arch, vocab, key, det, det_arch, reco, reco_arch, device, half, fmt, output, fail_on, select, ignore,
          include, exclude, jobs, config, values, timeout, no_limits, force, trust, verbose) -> int:
    """Check checkpoints and ONNX exports (files, or folders of *.pt *.pth *.bin *.ckpt *.safetensors *.onnx;
    URLs and prefixes too: https://, s3://, gs://, hf://, read in ranges), or a deployment (--det/--det-arch,
    --reco/--reco-arch, or both): the predictor built from them, on this machine; a detector alone or a
    recognizer alone is checked as docTR's detection or recognition predictor."""
    from ..api import check_deployment
    from ..core.config import load_settings
    from ..core.engine import UsageError
    from ..run import loop
    from ..run.guard import report_output
    from ..run.named import targets_of
    from ..run.plan import codes, file_kinds, key_path, known_arch, plan_for

    settings = load_settings(config).merged(
        select=tuple(codes(select)) or None, ignore=tuple(codes(ignore)) or None,
        fail_on=Severity(fail_on) if fail_on else None, include=include or None, trusted_globals=trust or None,
        exclude=exclude or None, jobs=jobs, no_limits=no_limits or None, values=values, timeout=timeout,
    )
    fmt = fmt or settings.format or "text"
    deployment = (det, det_arch, reco, reco_arch)
    if any(deployment):
        if paths or arch or bool(det) != bool(det_arch) or bool(reco) != bool(reco_arch):
            raise UsageError("a deployment takes --det with --det-arch, --reco with --reco-arch, or both pairs, "
                             "without PATHS or --arch")
        report_output(output, (det, reco), _config_read(config, settings), force=force)
        report = check_deployment(det, det_arch, reco, reco_arch, device=device, half=half, vocab=vocab,
                                  settings=settings)
    elif not paths:
        raise UsageError("nothing to check: give PATHS, or --det/--det-arch/--reco/--reco-arch")
    else:
        known_arch(arch)
        if not arch:  # numpy only sums the file's values here: OpenBLAS's thread pool would cost CPU, not time
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        if vocab and not arch:
            raise UsageError("--vocab builds a recognizer: give it with --arch (or --reco/--reco-arch)")
        targets, skipped = targets_of(paths, settings.include, settings.exclude, settings.timeout, arch, key_path(key),
                                      vocab)
        plan = plan_for(settings, file_kinds(arch, targets))
        files = [t.path for t in targets]
        report_output(output, files, _config_read(config, settings), force=force)
        stream = _jsonl_stream() if fmt == "jsonl" and output is None else None
        # A plain check never imports torch: cap what a hostile pickle can make it allocate.
        with _progress(files) as update, (contextlib.nullcontext() if arch else limited_memory(files)):
            report = loop.run(plan, targets, jobs=settings.jobs, skipped=skipped, on_done=update, on_result=stream)
        if stream is not None:  # the targets are out already: the summary line ends the stream
            from ..render.json import jsonl_summary

            click.echo(jsonl_summary(report, settings.fail_on), nl=False)
            return report.exit_code(settings.fail_on)
    color = common.use_color() and fmt in ("text", "concise")
    if output is not None:
        common.write_report(output, common.rendered(report, fmt, verbose=verbose, fail_on=settings.fail_on))
        fmt = "concise"
    click.echo(common.rendered(report, fmt, color=color, verbose=verbose, fail_on=settings.fail_on), nl=False,
               color=color)
    return report.exit_code(settings.fail_on)


def _config_read(config: Path | None, settings) -> list[Path]:
    """The settings file the run read, which a report must not replace either."""
    return [Path(p) for p in (config, settings.source) if p]


def _jsonl_stream():
    """`--format jsonl` on stdout: each target's line printed as soon as it is checked."""
    from ..render.json import jsonl_target

    return lambda result: (click.echo(jsonl_target(result), nl=False), sys.stdout.flush())


@contextlib.contextmanager
def limited_memory(files: list[Path]):
    """Cap this process's heap (RLIMIT_DATA) while the files are read, so a pickle cannot exhaust the machine.

    CPython's C unpickler sizes its memo from the largest index a pickle names: nine bytes
    (`LONG_BINPUT 2**30`) make it allocate and clear 16 GiB. Under the cap that allocation fails
    with MemoryError and the file gets an OD100 finding. Storage bytes are memory-mapped from the
    file and not counted, so a legitimate check stays far below it. The previous limit is restored.
    """
    try:
        import resource
    except ImportError:  # not on this platform
        yield
        return
    largest = max((_size(p) for p in files if not isinstance(p, Path) or p.is_file()), default=0)
    cap = max(4 << 30, 2 * largest)
    before = resource.getrlimit(resource.RLIMIT_DATA)
    soft, hard = before
    changed = False
    if soft == resource.RLIM_INFINITY or soft > cap:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
            changed = True
    try:
        yield
    finally:
        if changed:
            resource.setrlimit(resource.RLIMIT_DATA, before)


@contextlib.contextmanager
def _progress(files: list[Path]):
    """A progress bar on stderr, only on a terminal and only for runs long enough to want one."""
    if not (common.is_terminal(sys.stderr) and wants_progress(len(files), sum(_size(p) for p in files))):
        yield lambda target: None
        return
    lock = threading.Lock()  # --jobs reports from worker threads
    with click.progressbar(length=len(files), label="checking", file=sys.stderr) as bar:
        def update(target) -> None:
            with lock:
                bar.update(1)

        yield update


def _size(path) -> int:
    """A file's size for the progress bar: a remote one's from its listing (0 when unknown)."""
    return path.stat().st_size if isinstance(path, Path) else path.size or 0


def wants_progress(n_files: int, n_bytes: int) -> bool:
    return n_files >= PROGRESS_MIN_FILES or n_bytes >= PROGRESS_MIN_BYTES

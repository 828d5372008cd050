"""The command line: check, env, fix, export, bench, rules, explain, demo. Errors are one line; exit codes follow DESIGN.md."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import threading
from pathlib import Path
from typing import Sequence

import click

from .findings import Severity

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2  # check takes 1 from Report.exit_code (--fail-on)


class Group(click.Group):
    """Turns every failure of the run itself into one line on stderr and exit code 2."""

    def main(self, args=None, prog_name=None, **extra):  # noqa: D401 - click's signature
        from .api import UsageError
        from .build import MissingExtra
        from .config import ConfigError
        from .registry import one_line

        extra.pop("standalone_mode", None)
        try:
            code = super().main(args, prog_name or "ocrdoctor", standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # bare `ocrdoctor`: the help, as click shows it
            click.echo(exc.ctx.get_help(), err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            _fail(exc.format_message())
        except (UsageError, ConfigError, MissingExtra) as exc:
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


def is_terminal(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty()


def use_color(stream=None) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return "NO_COLOR" not in os.environ and is_terminal(stream or sys.stdout)


@click.group(name="ocrdoctor", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ocrdoctor", prog_name="ocrdoctor")
def cli() -> None:
    """Find why a docTR / PyTorch OCR model is slow, wrong or unloadable, and print the fix."""


FORMATS = ["text", "json", "sarif", "junit", "github", "html"]  # tests/test_formats.py checks these match render.FORMATS
PROGRESS_MIN_FILES, PROGRESS_MIN_BYTES = 8, 256 << 20


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--arch", help="Check the weights against this docTR architecture (see `ocrdoctor rules --archs`), "
                             "then load them into it and check the model.")
@click.option("--key", "key", help='Which weights in each file: a dotted key path (model.reco, ema, model["a.b"]).')
@click.option("--det", type=click.Path(dir_okay=False, path_type=Path), help="Detection checkpoint of a deployment.")
@click.option("--det-arch", help="Its docTR architecture.")
@click.option("--reco", type=click.Path(dir_okay=False, path_type=Path), help="Recognition checkpoint of a deployment.")
@click.option("--reco-arch", help="Its docTR architecture.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
              help="Where the deployment puts the predictor.")
@click.option("--half", is_flag=True, help="The deployment casts the predictor to float16.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]),
              help="Exit 1 when a finding reaches this severity.  [default: error]")
@click.option("--select", multiple=True, help="Only these rule codes or prefixes (OD1, OD103); repeat or comma-separate.")
@click.option("--ignore", multiple=True, help="Skip these rule codes or prefixes.")
@click.option("--include", multiple=True, help="Glob of files to check inside folders (default: checkpoint suffixes).")
@click.option("--exclude", multiple=True, help="Glob of files to leave out inside folders.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), help="Check this many files at once (0: one per CPU).  [default: 1]")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Read settings from this TOML file instead of the nearest pyproject.toml.")
@click.option("-v", "--verbose", is_flag=True, help="Also list the rules that were skipped, and why.")
def check(paths, arch, key, det, det_arch, reco, reco_arch, device, half, fmt, fail_on, select, ignore, include,
          exclude, jobs, config, verbose) -> int:
    """Check checkpoints and ONNX exports (files, or folders of *.pt *.pth *.bin *.ckpt *.safetensors *.onnx),
    or a deployment (--det/--det-arch/--reco/--reco-arch): the predictor built from them, on this machine."""
    from .api import UsageError, check_deployment, check_files, collect, key_path
    from .config import load_settings
    from .render import render

    settings = load_settings(config).merged(
        select=tuple(_codes(select)) or None, ignore=tuple(_codes(ignore)) or None,
        fail_on=Severity(fail_on) if fail_on else None, include=include or None,
        exclude=exclude or None, jobs=jobs,
    )
    deployment = (det, det_arch, reco, reco_arch)
    if any(deployment):
        if not all(deployment) or paths or arch:
            raise UsageError("a deployment takes --det, --det-arch, --reco and --reco-arch together, without PATHS or --arch")
        for path in (det, reco):
            if not path.is_file():
                raise UsageError(f"path not found: {path}")
        from .build import require_doctr

        require_doctr("a deployment check (--det/--reco)")
        report = check_deployment(det, det_arch, reco, reco_arch, device=device, half=half, settings=settings)
    elif not paths:
        raise UsageError("nothing to check: give PATHS, or --det/--det-arch/--reco/--reco-arch")
    else:
        files, skipped = collect(paths, settings.include, settings.exclude)
        # A plain check never imports torch: cap what a hostile pickle can make it allocate.
        with _progress(files) as update, (contextlib.nullcontext() if arch else limited_memory(files)):
            report = check_files(files, arch=arch, settings=settings, on_done=update, key=key_path(key))
        report = dataclasses.replace(report, skipped=tuple(skipped))
    color = use_color() and fmt == "text"
    click.echo(render(report, fmt, color=color, verbose=verbose, fail_on=settings.fail_on), nl=False, color=color)
    return report.exit_code(settings.fail_on)


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
    largest = max((p.stat().st_size for p in files if p.is_file()), default=0)
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
    if not (is_terminal(sys.stderr) and wants_progress(len(files), sum(p.stat().st_size for p in files))):
        yield lambda path: None
        return
    lock = threading.Lock()  # --jobs reports from worker threads
    with click.progressbar(length=len(files), label="checking", file=sys.stderr) as bar:
        def update(path: Path) -> None:
            with lock:
                bar.update(1)

        yield update


def wants_progress(n_files: int, n_bytes: int) -> bool:
    return n_files >= PROGRESS_MIN_FILES or n_bytes >= PROGRESS_MIN_BYTES


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the clean checkpoint (never the input); a folder for a file holding several models.")
@click.option("--arch", help="The docTR architecture (default: identified from the keys); FAST is reparameterized.")
@click.option("--key", "key", help='Which weights: a dotted key path (model.reco, ema, model["a.b"]).')
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]),
              help="Cast floating tensors (float16 / bfloat16 change numerics; float32 ends a half-done cast).")
@click.option("--half", is_flag=True, help="Same as --dtype float16.")
@click.option("--safetensors", "as_safetensors", is_flag=True, help="Write safetensors (the config in its metadata).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file and its config sidecar.")
def fix(source, output, arch, key, dtype, half, as_safetensors, force) -> int:
    """Write a clean copy of a checkpoint (bare state_dict, CPU, no training state, its config kept) and verify it."""
    from .build import require_doctr

    require_doctr("ocrdoctor fix")
    from .api import UsageError, key_path
    from .repair import FixError, fix_checkpoint

    try:
        results = fix_checkpoint(source, output, arch=arch, dtype="float16" if half else dtype,
                                 safetensors=as_safetensors, force=force, key=key_path(key))
    except FixError as exc:
        raise UsageError(str(exc)) from None
    click.echo("\n".join(r.describe() for r in results))
    return EXIT_OK


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--arch", required=True, help="The docTR architecture of the checkpoint (ocrdoctor rules --archs).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the ONNX file.")
@click.option("--fp16", is_flag=True, help="Convert weights and activations to float16 (changes numerics).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
@click.option("--key", "key", help='Which weights in the file: a dotted key path (model.reco, ema).')
@click.option("--repeat", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Timed runs for each latency (after one warm-up).")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Read settings (select, ignore, severity) from this TOML file.")
def export(source, arch, output, fp16, force, key, repeat, config) -> int:
    """Export a checkpoint to ONNX through docTR, then prove it: onnx.checker, onnxruntime against
    PyTorch on sample pages, both latencies, and the OD4xx rules. Exit 1 (nothing written) on an error finding."""
    from .build import require_doctr

    require_doctr("ocrdoctor export")
    from .api import UsageError, key_path, select_rules
    from .config import load_settings
    from .export import export_onnx
    from .render import render
    from .repair import FixError

    settings = load_settings(config)
    _, rules = select_rules(settings, "onnx")
    _, checkpoint_rules = select_rules(settings, "checkpoint")
    try:
        result = export_onnx(source, arch, output, fp16=fp16, force=force, repeat=repeat, rules=rules,
                             checkpoint_rules=checkpoint_rules, key=key_path(key))
    except FixError as exc:  # ExportError, or the output checks shared with `fix`
        raise UsageError(str(exc)) from None
    click.echo(result.describe())
    if result.report.findings:
        click.echo(render(result.report, "text", color=use_color()), nl=False, color=use_color())
    return EXIT_OK if result.written else EXIT_FINDINGS


@cli.command()
@click.option("--det", type=click.Path(dir_okay=False, path_type=Path), help="Detection checkpoint.")
@click.option("--det-arch", default="fast_tiny", show_default=True, help="Its docTR architecture.")
@click.option("--reco", type=click.Path(dir_okay=False, path_type=Path), help="Recognition checkpoint.")
@click.option("--reco-arch", default="crnn_mobilenet_v3_small", show_default=True, help="Its docTR architecture.")
@click.option("--device", default="cpu", show_default=True, help="As given: where the predictor starts (cpu, cuda).")
@click.option("--dtype", type=click.Choice(["float32", "float64", "float16", "bfloat16"]), default="float32",
              show_default=True, help="As given: the predictor's dtype.")
@click.option("--threads", type=click.IntRange(1, 1024), help="As given: torch.set_num_threads(N) first.")
@click.option("--train", is_flag=True, help="As given: the models' layers left in training mode.")
@click.option("--pages", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("--words", type=click.IntRange(1, 2000), default=150, show_default=True, help="Word crops per page.")
@click.option("--repeat", type=click.IntRange(1, 100), default=3, show_default=True, help="Timed runs per variant.")
@click.option("--no-onnx", is_flag=True, help="Leave out the ONNX Runtime variant.")
@click.option("--straighten-pages", is_flag=True, help="As given: ocr_predictor(straighten_pages=True).")
@click.option("--detect-orientation", is_flag=True, help="As given: ocr_predictor(detect_orientation=True).")
@click.option("--rotated", is_flag=True, help="As given: ocr_predictor(assume_straight_pages=False).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def bench(det, det_arch, reco, reco_arch, device, dtype, threads, train, pages, words, repeat, no_onnx,
          straighten_pages, detect_orientation, rotated, fmt) -> int:
    """Time the predictor as given, then after each applicable fix (eval, float32, FAST fusion, threads,
    .cuda(), .half(), ONNX Runtime), on the same synthetic pages; with page options, also the whole
    predictor with each option off (OD212). Without --det/--reco: random weights."""
    from .build import require_doctr

    require_doctr("ocrdoctor bench")
    from .api import UsageError
    from .architectures import arch_names
    from .bench import bench as run_bench
    from .bench import demo_predictor
    from .build import BuildError, build_predictor

    if bool(det) != bool(reco):
        raise UsageError("--det and --reco go together (or leave both out for a predictor with random weights)")
    for name in (det_arch, reco_arch):
        if name not in arch_names():
            raise UsageError(f"unknown architecture '{name}' (known: {', '.join(arch_names())})")
    options = {"straighten_pages": straighten_pages, "detect_orientation": detect_orientation,
               "assume_straight_pages": not rotated}
    try:
        predictor = (build_predictor(det, det_arch, reco, reco_arch, any_vocab=True, **options) if det  # timing only
                     else demo_predictor(det_arch, reco_arch, **options))
        predictor = _as_given(predictor, device, dtype, threads, train)
    except BuildError as exc:
        raise UsageError(str(exc)) from None
    if not det and fmt == "text":
        click.echo(f"No --det/--reco: {det_arch} + {reco_arch} with random weights.", err=True)
    with _bench_progress() as progress:
        result = run_bench(predictor, pages=pages, words=words, repeat=repeat, onnx=not no_onnx, progress=progress)
    click.echo(json.dumps(result.to_dict(), indent=2) if fmt == "json" else result.table())
    return EXIT_OK


def _as_given(predictor, device: str, dtype: str, threads: int | None, train: bool):
    """The predictor in the state the user asked to start from."""
    import torch

    from .build import BuildError
    from .registry import one_line

    if threads:
        torch.set_num_threads(threads)
    try:
        predictor = predictor.to(device=device, dtype=getattr(torch, dtype))
    except (RuntimeError, AssertionError) as exc:
        raise BuildError(f"cannot move the predictor to {device}: {one_line(exc)}") from None
    for p in (predictor.det_predictor, predictor.reco_predictor):
        for layer in p.model.children():  # docTR refuses to run a model whose root is training
            layer.train(train)
    return predictor


@contextlib.contextmanager
def _bench_progress():
    """A bar on stderr over the timed variants, only on a terminal; cleared at the end."""
    if not is_terminal(sys.stderr):
        yield None
        return
    done = [0]

    def update(name: str, total: int) -> None:
        filled = round(20 * done[0] / total)
        sys.stderr.write(f"\rtiming [{'#' * filled}{'-' * (20 - filled)}] {done[0]}/{total} {name:<40}")
        sys.stderr.flush()
        done[0] += 1

    try:
        yield update
    finally:
        sys.stderr.write("\r" + " " * 80 + "\r")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]),
              help="Exit 1 when a finding reaches this severity.  [default: error]")
@click.option("--select", multiple=True, help="Only these rule codes or prefixes (OD3, OD304).")
@click.option("--ignore", multiple=True, help="Skip these rule codes or prefixes.")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="Settings file (TOML).")
def env(fmt, fail_on, select, ignore, config) -> int:
    """Check the machine: torch and CUDA, GPUs (NVML), CPUs and threads, memory, torchvision, onnxruntime."""
    from .api import check_environment
    from .config import load_settings
    from .inspect.environment import inspect_environment
    from .render import render
    from .render.json import report_dict

    settings = load_settings(config).merged(
        select=tuple(_codes(select)) or None, ignore=tuple(_codes(ignore)) or None,
        fail_on=Severity(fail_on) if fail_on else None,
    )
    facts = inspect_environment()
    report = check_environment(settings=settings, facts=facts)
    color = use_color() and fmt == "text"
    if fmt == "json":
        click.echo(json.dumps({**report_dict(report), "environment": facts.to_dict()}, indent=2, default=str))
    else:
        if fmt == "text":
            click.echo(_environment_table(facts), color=color)
        click.echo(render(report, fmt, color=color, fail_on=settings.fail_on), nl=False, color=color)
    return report.exit_code(settings.fail_on)


def _environment_table(f) -> str:
    from .units import human_bytes

    gpus = [f"cuda:{g.index} {g.name} (compute {'.'.join(map(str, g.compute_capability or ()))}, "
            f"{human_bytes(g.memory_free)} of {human_bytes(g.memory_total)} free, {g.processes} processes)" for g in f.gpus]
    rows = [
        ("python", f.python),
        ("torch", f"{f.torch_version}, " + (f"built for CUDA {f.torch_cuda}" if f.torch_cuda else "CPU-only build")),
        ("cuda available", f"{f.cuda_available} ({f.cuda_devices} devices)"),
        ("driver", f"{f.driver_version} (CUDA {f.driver_cuda})" if f.driver_version else f"none ({f.nvml_error})"),
        *[("gpu", g) for g in gpus],
        ("cpus", f"{f.cpus_usable} usable of {f.cpus_logical} logical / {f.cpus_physical} physical"
                 + (f", cgroup quota {f.cpu_quota:g}" if f.cpu_quota else "")),
        ("torch threads", str(f.torch_threads) + "".join(f", {k}={v}" for k, v in f.thread_variables.items())),
        ("memory", f"{human_bytes(f.memory_available)} available of {human_bytes(f.memory_total)}"),
        ("torchvision", f"{f.torchvision_version} ({'ops load' if not f.torchvision_error else f.torchvision_error})"
                        if f.torchvision_version else "not installed"),
        ("onnxruntime", f"{', '.join(f.onnxruntime_packages)} ({', '.join(f.onnxruntime_providers)})"
                        if f.onnxruntime_packages else "not installed"),
    ]
    return "\n".join(f"{k:<15} {v}" for k, v in rows) + "\n"


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--archs", is_flag=True, help="List the docTR architectures ocrdoctor can identify instead.")
@click.option("--builtin-only", is_flag=True, help="Leave out rules added by plugins.")
def rules(fmt, archs, builtin_only) -> int:
    """List every rule: code, name, severity, target and summary."""
    from .rulesdoc import render_archs, render_rules

    click.echo(render_archs(fmt) if archs else render_rules(fmt, builtin_only), nl=False)
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
    from .build import require_doctr

    require_doctr("ocrdoctor demo")
    from .demo import run_demo

    run_demo(out, fmt, color=use_color())
    return EXIT_OK


def main() -> None:
    cli()

"""`ocrdoctor bench`: the ladder of fixes, timed on the same synthetic pages."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import click

from . import common


@click.command()
@click.option("--det", type=click.Path(dir_okay=False, path_type=Path), help="Detection checkpoint.")
@click.option("--det-arch", default="fast_tiny", show_default=True, help="Its docTR architecture.")
@click.option("--reco", type=click.Path(dir_okay=False, path_type=Path), help="Recognition checkpoint.")
@click.option("--reco-arch", default="crnn_mobilenet_v3_small", show_default=True, help="Its docTR architecture.")
@click.option("--vocab", help="The recognizer's vocab when the file stores none: a docTR vocab's name, a file, or "
                              "the characters (default: a stand-in of the head's size, for timing).")
@click.option("--device", default="cpu", show_default=True, help="As given: where the predictor starts (cpu, cuda).")
@click.option("--dtype", type=click.Choice(["float32", "float64", "float16", "bfloat16"]), default="float32",
              show_default=True, help="As given: the predictor's dtype.")
@click.option("--threads", type=click.IntRange(1, 1024), help="As given: torch.set_num_threads(N) first.")
@click.option("--train", is_flag=True, help="As given: the models' layers left in training mode.")
@click.option("--pages", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option("--words", type=click.IntRange(1, 2000), default=150, show_default=True, help="Word crops per page.")
@click.option("--repeat", type=click.IntRange(1, 100), default=3, show_default=True, help="Timed runs per variant.")
@click.option("--no-onnx", is_flag=True, help="Leave out the ONNX Runtime variant.")
@click.option("--no-read", is_flag=True, help="Leave out the words column (each row reading the sample pages).")
@click.option("--straighten-pages", is_flag=True, help="As given: ocr_predictor(straighten_pages=True).")
@click.option("--detect-orientation", is_flag=True, help="As given: ocr_predictor(detect_orientation=True).")
@click.option("--rotated", is_flag=True, help="As given: ocr_predictor(assume_straight_pages=False).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def bench(det, det_arch, reco, reco_arch, vocab, device, dtype, threads, train, pages, words, repeat, no_onnx, no_read,
          straighten_pages, detect_orientation, rotated, fmt) -> int:
    """Time the predictor as given, then after each applicable fix (eval, float32, FAST fusion, threads,
    .cuda(), .half(), ONNX Runtime), on the same synthetic pages, and read the trained pair's sample
    pages after each: a fix that changes the words is flagged. With page options, also the whole
    predictor with each option off (OD212). --det or --reco alone times that half (docTR's detection
    or recognition predictor). Without --det/--reco: random weights."""
    from ..core.extras import require_doctr

    require_doctr("ocrdoctor bench")
    from ..anatomy.architectures import arch_names
    from ..core.engine import UsageError
    from ..read.sniff import sniff
    from ..treat.bench import bench as run_bench
    from ..treat.bench import demo_predictor
    from ..treat.build import BuildError, build_predictor

    for name in (det_arch, reco_arch):
        if name not in arch_names():
            raise UsageError(f"unknown architecture '{name}' (known: {', '.join(arch_names())})")
    options = {"straighten_pages": straighten_pages, "detect_orientation": detect_orientation,
               "assume_straight_pages": not rotated}
    for path in (det, reco):
        if path is not None and not path.is_file():
            raise UsageError(f"path not found: {path}")
    if bool(det) != bool(reco) and any((straighten_pages, detect_orientation, rotated)):
        raise UsageError("page options (--straighten-pages, --detect-orientation, --rotated) need both --det and "
                         "--reco")
    onnx = [path for path in (det, reco) if path is not None and sniff(path) == "onnx"]
    if onnx:
        return _bench_onnxtr(det, det_arch, reco, reco_arch, device, dtype, threads, train, pages, words, repeat,
                             no_read, fmt, len(onnx) == len([p for p in (det, reco) if p is not None]))
    try:
        if det or reco:  # one half alone: docTR's detection or recognition predictor
            predictor = build_predictor(det, det_arch if det else None, reco, reco_arch if reco else None,
                                        any_vocab=True, vocab=vocab, **(options if det and reco else {}))  # timing
        else:
            predictor = demo_predictor(det_arch, reco_arch, **options)
        predictor = _as_given(predictor, device, dtype, threads, train)
    except BuildError as exc:
        raise UsageError(str(exc)) from None
    if not (det or reco) and fmt == "text":
        click.echo(f"No --det/--reco: {det_arch} + {reco_arch} with random weights.", err=True)
    with _bench_progress() as progress:
        result = run_bench(predictor, pages=pages, words=words, repeat=repeat, onnx=not no_onnx, read=not no_read,
                           progress=progress)
    click.echo(json.dumps(result.to_dict(), indent=2) if fmt == "json" else result.table())
    return common.EXIT_OK


def _bench_onnxtr(det, det_arch, reco, reco_arch, device, dtype, threads, train, pages, words, repeat, no_read, fmt,
                  all_onnx: bool) -> int:
    """ONNX exports as OnnxTR serves them: the sessions' ladder (threads, arena, graph level, 8-bit, CUDA)."""
    from ..core.engine import UsageError
    from ..treat.bench_onnxtr import bench_onnxtr
    from ..treat.build import BuildError
    from ..treat.onnxtr import onnxtr_predictor

    if not all_onnx:
        raise UsageError("a deployment is PyTorch checkpoints or ONNX exports, not both")
    if dtype != "float32" or train:
        raise UsageError("--dtype and --train set a PyTorch predictor's state; an ONNX export's precision is in "
                         "the file (ocrdoctor export --fp16)")
    try:
        predictor = onnxtr_predictor(det, det_arch if det else None, reco, reco_arch if reco else None, device)
    except BuildError as exc:
        raise UsageError(str(exc)) from None
    if threads:  # as given: the sessions opened with this many intra-op threads
        from ..treat.bench_onnxtr import reopen
        from ..treat.rungs import holders

        reopen([holder.model for _, holder in holders(predictor)], threads=threads)
    with _bench_progress() as progress:
        result = bench_onnxtr(predictor, pages=pages, words=words, repeat=repeat, read=not no_read, progress=progress)
    click.echo(json.dumps(result.to_dict(), indent=2) if fmt == "json" else result.table())
    return common.EXIT_OK


def _as_given(predictor, device: str, dtype: str, threads: int | None, train: bool):
    """The predictor in the state the user asked to start from."""
    import torch

    from ..core.registry import one_line
    from ..treat.build import BuildError

    if threads:
        torch.set_num_threads(threads)
    try:
        predictor = predictor.to(device=device, dtype=getattr(torch, dtype))
    except (RuntimeError, AssertionError) as exc:
        raise BuildError(f"cannot move the predictor to {device}: {one_line(exc)}") from None
    from ..treat.rungs import holders

    for _, holder in holders(predictor):
        for layer in holder.model.children():  # docTR refuses to run a model whose root is training
            layer.train(train)
    return predictor


@contextlib.contextmanager
def _bench_progress():
    """A bar on stderr over the timed variants, only on a terminal; cleared at the end."""
    if not common.is_terminal(sys.stderr):
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

"""`ocrdoctor bench` on an OnnxTR deployment: its sessions as given, then after each fix that applies.

The workload is the docTR ladder's: synthetic pages and word crops, pre-processed by the
predictor's own pre-processors, fed to each engine's `run` (raw logits), so every rung does the
same work. A rung reopens the sessions in place with other options (threads fitted to the CPUs
this process may use, the arena shrunk on each run, all graph optimizations, an 8-bit
quantization of the file where OnnxTR ships 8-bit models, the CUDA provider on a GPU), and reads
the sample pages through the whole predictor: a rung that changes the words is flagged.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..core.timing import spread_seconds
from ..inspect.onnxtr import CPU, SHRINKAGE, inspect_onnxtr
from .bench import BenchResult, Row, next_row, with_words
from .rungs import Workload, holders


def bench_onnxtr(predictor: Any, *, pages: int = 1, words: int = 150, repeat: int = 3, read: bool = True,
                 progress: Callable[[str, int], None] | None = None) -> BenchResult:
    """Time an OnnxTR predictor as given, then after each fix that applies, in place."""
    from .proof import read_samples

    facts = inspect_onnxtr(predictor)
    work = Workload.build(predictor, pages, words)
    engines = [holder.model for _, holder in holders(predictor)]
    with tempfile.TemporaryDirectory(prefix="ocrdoctor-bench-") as tmp:
        steps = list(_steps(engines, facts, Path(tmp)))
        skipped = [f"{name} ({reason})" for name, _, reason in steps if reason]
        rows: list[Row] = []
        readings: list[Any] = []
        for name, change, reason in steps:
            if reason:
                continue
            if progress:
                progress(name, len(steps) - len(skipped))
            change()
            spread = spread_seconds(lambda: _run(holders(predictor), work), repeat) / pages
            reading = _read(read_samples, predictor) if read else None
            rows.append(with_words(next_row(name, spread, rows), readings[-1] if readings else None, reading))
            readings.append(reading)
    device = ", ".join(sorted({s.in_use[0] for s in facts.sessions}))
    read_on = f"{len(readings[0].pages)} {readings[0].label}" if readings and readings[0] is not None else ""
    return BenchResult(facts.target, device, pages, words, repeat, tuple(rows), tuple(skipped), (), read_on)


def _run(parts: list[tuple[str, Any]], work: Workload) -> None:
    for role, holder in parts:
        for batch in work.batches[role]:
            holder.model.run(batch)


def _read(read_samples: Callable[[Any], Any], predictor: Any) -> Any:
    try:
        return read_samples(predictor)
    except Exception:  # onnxruntime's own errors (InvalidArgument, ...): a rung that cannot read reads nothing
        return None


Step = tuple[str, Callable[[], None], "str | None"]


def _steps(engines: list[Any], facts: Any, tmp: Path) -> Iterator[Step]:
    """(name, change applied in place, reason it does not apply) in ladder order, judged as given."""
    import onnxruntime as ort

    from ..checks.onnxtr import arena_grows, threads_started

    yield "as given", lambda: None, None
    usable = facts.cpus_usable
    over = [s for s in facts.sessions if threads_started(s, facts) > usable]
    yield (f"+ intra_op_num_threads={usable}", lambda: reopen(engines, threads=usable),
           None if over else f"the sessions' threads fit the {usable} usable CPU(s)")
    grows = any(arena_grows(s) for s in facts.sessions)
    yield ("+ arena shrunk on each run", lambda: _shrink(engines),
           None if grows else "no CPU arena grows with varying shapes")
    low = [s for s in facts.sessions if s.graph_level != "ORT_ENABLE_ALL"]
    yield ("+ ORT_ENABLE_ALL", lambda: reopen(engines, level=ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
           None if low else "all graph optimizations already on")
    eight = all(s.has_8_bit and s.precision == "float32" for s in facts.sessions)
    yield ("+ 8-bit (quantize_dynamic)", lambda: _quantized(engines, tmp),
           None if eight else "OnnxTR ships no 8-bit model for every architecture here, or a model is not float32")
    cuda = "CUDAExecutionProvider" in ort.get_available_providers() and facts.gpus
    on_cpu = all(s.in_use[:1] == (CPU,) for s in facts.sessions)
    yield ("+ CUDAExecutionProvider", lambda: reopen(engines, providers=["CUDAExecutionProvider", CPU]),
           None if cuda and on_cpu else "no CUDA GPU with onnxruntime-gpu" if not cuda else "already on a GPU")


def reopen(engines: list[Any], *, threads: int | None = None, level: Any = None, providers: list | None = None,
            path: Callable[[Any], str] | None = None) -> None:
    """Each engine's session opened again with the changed options (the rest as they were)."""
    import onnxruntime as ort

    for engine in engines:
        old, new = engine.session_options, ort.SessionOptions()
        for name in ("intra_op_num_threads", "inter_op_num_threads", "execution_mode", "graph_optimization_level",
                     "enable_cpu_mem_arena", "enable_mem_pattern"):
            setattr(new, name, getattr(old, name))
        if threads is not None:
            new.intra_op_num_threads, new.inter_op_num_threads = threads, 1
        if level is not None:
            new.graph_optimization_level = level
        engine.providers = providers or engine.providers
        engine.session_options = new
        engine.runtime = ort.InferenceSession(path(engine) if path else engine.model_path,
                                              providers=engine.providers, sess_options=new)
        engine.runtime_input_metas = engine.runtime.get_inputs()
        engine.runtime_inputs = engine.runtime_input_metas[0]
        engine.output_name = [o.name for o in engine.runtime.get_outputs()]


def _shrink(engines: list[Any]) -> None:
    def provider(run: Any) -> Any:
        run.add_run_config_entry(SHRINKAGE, "cpu:0")
        return run

    for engine in engines:
        engine.run_options_provider = provider


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """onnxruntime.quantization logs advice on the root logger: not the bench's output."""
    import logging

    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _quantized(engines: list[Any], tmp: Path) -> None:
    """Each model quantized to 8 bits (onnxruntime.quantization.quantize_dynamic), as a stand-in for the 8-bit
    model OnnxTR ships for the architecture (its own are downloads): the words column says what it costs."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    paths = {}
    for i, engine in enumerate(engines):
        out = tmp / f"model-{i}-int8.onnx"
        with _quiet():
            quantize_dynamic(str(engine.model_path), str(out), weight_type=QuantType.QInt8)
        paths[id(engine)] = str(out)
    reopen(engines, path=lambda engine: paths[id(engine)])

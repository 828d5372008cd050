"""OD5xx rules on a live OnnxTR deployment: its sessions, providers, threads, run options, and the
architecture class and pre-processing each ONNX file was given.

Every rule reads the configuration (the sessions' settings and the graphs), never a page: each
says so under "Evidence". What only a reading proves (accuracy lost to 8-bit, pre-processing
drift in OnnxTR's own code) is `ocrdoctor compare`'s. Fixes rebuild the predictor as it is,
changing only what the finding needs (`rebuild_program`), for the installed OnnxTR.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..core.findings import Applicability, Problem, Severity
from ..core.registry import check
from ..core.units import count, listing
from ..inspect.onnxtr import CPU, OnnxtrFacts, Session
from .examples import facts as fx

SAFE = Applicability.SAFE
NUMERICS = Applicability.CHANGES_NUMERICS


@check(
    "OD501", "session-provider-fallback", Severity.ERROR, "onnxtr",
    applicability=SAFE,
    bad=[fx.onnxtr_facts("asked-cuda-runs-cpu", requested=("CUDAExecutionProvider", CPU), in_use=(CPU,)),
         fx.onnxtr_facts("gpu-present-cpu-only", gpus=("NVIDIA H200",))],
    good=[fx.onnxtr_facts("cpu-machine"),
          fx.onnxtr_facts("on-cuda", gpus=("NVIDIA H200",), requested=("CUDAExecutionProvider", CPU),
                          in_use=("CUDAExecutionProvider", CPU))],
)
def session_provider_fallback(facts: OnnxtrFacts) -> Iterator[Problem]:
    """A session runs on the CPU provider although it asked for an accelerator, or a GPU sits idle.

    What it detects:
        A session whose providers asked for CUDA, TensorRT, CoreML or OpenVINO but whose
        session runs on `CPUExecutionProvider` (onnxruntime falls back silently, and OnnxTR
        sets its log severity to fatal), or a machine with an NVIDIA GPU whose sessions use
        only the CPU provider. Evidence: configuration (`session.get_providers()`, NVML).
    Why it matters:
        Every page runs on the CPU: 64 s instead of a few on the GPU in the reports below.
    Fix:
        Install `onnxruntime-gpu` in place of `onnxruntime` (one of the two, never both) and
        rebuild the predictor asking for the CUDA provider first.
    Example:
        A CUDA image whose requirements pulled `onnxtr[cpu]`, which brings the CPU-only onnxruntime.
    Seen in the field:
        docling-serve#434 (a CUDA image shipping the CPU onnxruntime); onnxruntime#20357 and
        OnnxTR#100 (providers that fail to load and fall back).
    """
    for s in facts.sessions:
        fallback = _fallback(s, facts)
        if fallback == "asked":
            asked = next(p for p in s.requested if p != CPU)
            yield Problem(f"the {s.role} session asked for {asked} but runs on {CPU}", location=s.path,
                          fix=repaired(facts))
        elif fallback == "idle":
            yield Problem(f"the {s.role} session runs on {CPU} only, on a machine with {listing(facts.gpus, 2)}",
                          location=s.path, fix=repaired(facts))


@check(
    "OD502", "session-threads", Severity.WARNING, "onnxtr",
    applicability=SAFE,
    bad=[fx.onnxtr_facts("more-threads-than-cpus", intra_threads=8),
         fx.onnxtr_facts("default-threads-in-a-container", intra_threads=-1, cpus_usable=1, cpus_physical=16)],
    good=[fx.onnxtr_facts("threads-fit"),
          fx.onnxtr_facts("default-threads-whole-machine", intra_threads=-1, cpus_usable=4, cpus_physical=4)],
)
def session_threads(facts: OnnxtrFacts) -> Iterator[Problem]:
    """More onnxruntime threads than CPUs this process may use.

    What it detects:
        A session whose intra-op threads (and inter-op threads, in parallel execution mode)
        exceed the CPUs this process may run on (affinity, and a container's CPU quota).
        OnnxTR's default (-1) lets onnxruntime start one thread per physical core of the
        machine, whatever the quota. Evidence: configuration (`SessionOptions`, the machine).
    Why it matters:
        Threads beyond the quota spin and wait for CPU time: latency grows and varies with
        load, often several times over.
    Fix:
        Rebuild with `SessionOptions.intra_op_num_threads` set to the CPUs this process may
        use and `inter_op_num_threads = 1`.
    Example:
        OnnxTR's defaults in a 2-CPU container on a 64-core host.
    Seen in the field:
        microsoft/onnxruntime#29510 (the default pool is sized to the host's physical cores,
        blind to the container's CPU reservation); microsoft/onnxruntime#7207 (crashes under
        a cpuset restriction until the thread counts are set).
    """
    for s in facts.sessions:
        threads = threads_started(s, facts)
        if threads > facts.cpus_usable:
            how = f"intra_op_num_threads={s.intra_threads}" if s.intra_threads > 0 else \
                f"onnxruntime's default, one per physical core: {threads}"
            yield Problem(f"the {s.role} session starts {count(threads, 'thread')} ({how}) for "
                          f"{count(facts.cpus_usable, 'usable CPU')}", location=s.path, fix=repaired(facts))


@check(
    "OD503", "memory-arena-growth", Severity.WARNING, "onnxtr",
    applicability=SAFE,
    bad=[fx.onnxtr_facts("arena-without-shrinkage", shrinkage=None)],
    good=[fx.onnxtr_facts("arena-shrunk"), fx.onnxtr_facts("arena-off", cpu_arena=False, shrinkage=None),
          fx.onnxtr_facts("fixed-shapes", input_dims=(1, 3, 1024, 1024), shrinkage=None)],
)
def memory_arena_growth(facts: OnnxtrFacts) -> Iterator[Problem]:
    """The CPU memory arena grows with every new input shape and is never shrunk.

    What it detects:
        A CPU session with the memory arena on (OnnxTR's default), dynamic input axes (the
        batch, or the page size), and no run option that shrinks the arena
        (`memory.enable_memory_arena_shrinkage`). Evidence: configuration; the growth itself
        is not observed, it is what this configuration does under varied inputs.
    Why it matters:
        The arena keeps the largest allocation each shape needed: a service's memory climbs
        with every page size it meets until the container is killed.
    Fix:
        A `run_options_provider` (OnnxTR 0.9) that sets the shrinkage on every run.
    Example:
        `ocr_predictor(det, reco)` with OnnxTR's defaults, serving pages of many sizes.
    Seen in the field:
        felixdittrich92/OnnxTR#87 (memory growing with each page; fixed with run options).
    """
    for s in facts.sessions:
        if arena_grows(s):
            yield Problem(f"the {s.role} session keeps a CPU memory arena for inputs of varying shape "
                          f"({_dims(s.input_dims)}) and never shrinks it", location=s.path, fix=repaired(facts))


@check(
    "OD504", "precision-unavailable", Severity.WARNING, "onnxtr",
    fix="Prove the reading with `ocrdoctor compare` against the float32 export, or serve the float32 "
        "export (`ocrdoctor export` without --fp16) where no measured reading backs this precision",
    bad=[fx.onnxtr_facts("int8-fast", arch="fast_base", cls="FAST", precision="int8", has_8_bit=False),
         fx.onnxtr_facts("float16-on-cpu", precision="float16")],
    good=[fx.onnxtr_facts("int8-dbnet", precision="int8", has_8_bit=True),
          fx.onnxtr_facts("float16-on-cuda", precision="float16", in_use=("CUDAExecutionProvider", CPU))],
)
def precision_unavailable(facts: OnnxtrFacts) -> Iterator[Problem]:
    """A precision OnnxTR offers no model for, or one that only slows this provider down.

    What it detects:
        An 8-bit graph (quantize / integer ops) for an architecture the installed OnnxTR
        ships no 8-bit model for (its model table has no `url_8_bit`: FAST in OnnxTR 0.9, and
        `load_in_8_bit` is ignored there, so the file is a quantization of your own), or a
        float16 graph on the CPU provider. Evidence:
        configuration (the graph's operators and initializers); the accuracy an 8-bit or
        float16 model loses is only measured by `ocrdoctor compare`.
    Why it matters:
        A home-made 8-bit FAST has no published accuracy to lean on, and float16 on the CPU
        runs slower than float32, the opposite of why it was chosen.
    Fix:
        Compare its reading with the float32 export's (`ocrdoctor compare --candidate-det`),
        or serve the float32 export.
    Example:
        `onnxruntime.quantization.quantize_dynamic` on a FAST export, served with OnnxTR.
    Seen in the field:
        felixdittrich92/OnnxTR#9 (the 8-bit variants OnnxTR ships, and for which
        architectures); its README warns that 8-bit models may lose accuracy.
    """
    for s in facts.sessions:
        if s.precision == "int8" and s.has_8_bit is False:
            yield Problem(f"the {s.role} model is an 8-bit graph, and OnnxTR has no 8-bit {s.arch}: "
                          "nothing published says what it reads", location=s.model_path)
        elif s.precision == "float16" and s.in_use[:1] == (CPU,):
            yield Problem(f"the {s.role} model is float16 on {CPU}: slower than float32 there", location=s.model_path)


@check(
    "OD505", "wrong-architecture-class", Severity.ERROR, "onnxtr",
    applicability=SAFE,
    bad=[fx.onnxtr_facts("512-export-in-a-1024-class", input_dims=("batch_size", 3, 512, 512),
                         stored={"arch": "db_mobilenet_v3_large", "input_shape": (3, 512, 512)}),
         fx.onnxtr_facts("recorded-as-another-arch", stored={"arch": "db_resnet50"}),
         fx.onnxtr_facts("vocab-does-not-fit-the-head", role="recognition", cls="CRNN", arch="crnn_mobilenet_v3_small",
                         vocab_size=10, input_dims=("batch_size", 3, 32, 128), pre_size=(32, 128),
                         output_dims=("batch_size", "sequence", 37))],
    good=[fx.onnxtr_facts("fits"),
          fx.onnxtr_facts("vocab-fits-the-head", role="recognition", cls="CRNN", arch="crnn_mobilenet_v3_small",
                          vocab_size=36, input_dims=("batch_size", 3, 32, 128), pre_size=(32, 128),
                          output_dims=("batch_size", "sequence", 37))],
)
def wrong_architecture_class(facts: OnnxtrFacts) -> Iterator[Problem]:
    """An ONNX file loaded into an architecture class it does not fit.

    What it detects:
        A graph whose fixed input size differs from the size the predictor's pre-processor
        resizes to (the first page fails with "Got invalid dimensions"), a recognizer whose
        output classes do not fit the vocab it was given (CRNN: vocab + 1), or a file whose
        recorded docTR architecture (`ocrdoctor export` records it) is another class's.
        Evidence: configuration (the graph's shapes and metadata against the class's cfg).
    Why it matters:
        It fails on the first page, or worse, runs and reads garbage: wrong characters from a
        shifted vocab, boxes from the wrong head.
    Fix:
        Build the class the file was exported as, with the input size and vocab it records.
    Example:
        A detector exported at 512x512 loaded with `db_mobilenet_v3_large(path)`, whose cfg
        says 1024x1024.
    Seen in the field:
        felixdittrich92/OnnxTR#31 (a model loaded into the wrong class).
    """
    for s in facts.sessions:
        recorded = s.stored.get("arch")
        if recorded and s.arch and recorded != s.arch:
            yield Problem(f"the {s.role} file was exported as {recorded} but is loaded as {s.arch}",
                          location=s.model_path, fix=repaired(facts))
        elif _misfit(s):
            yield Problem(f"the {s.role} graph takes {_size(s.spatial)} inputs but the predictor resizes to "
                          f"{_size(s.pre_size)}: the first page fails", location=s.path, fix=repaired(facts))
        elif s.cls == "CRNN" and s.vocab_size and _classes(s) not in (None, s.vocab_size + 1):
            yield Problem(f"the recognition graph has {s.output_dims[-1]} output classes, a vocab of "
                          f"{s.output_dims[-1] - 1}, but was given a vocab of {s.vocab_size}", location=s.path,
                          fix=repaired(facts) if "vocab" in s.stored else None)


@check(
    "OD506", "preprocessing-drift", Severity.WARNING, "onnxtr",
    applicability=NUMERICS,
    bad=[fx.onnxtr_facts("trained-with-other-mean", stored={"mean": (0.5, 0.5, 0.5)})],
    good=[fx.onnxtr_facts("same-as-recorded", stored={"mean": (0.798, 0.785, 0.772)}),
          fx.onnxtr_facts("nothing-known")],
)
def preprocessing_drift(facts: OnnxtrFacts) -> Iterator[Problem]:
    """OnnxTR's pre-processing differs from the model's own (mean, std, input size).

    What it detects:
        The predictor's pre-processor (the size it resizes to, the mean and std it
        normalizes with) against the config the model was trained with, as `ocrdoctor
        export` records it in the file; without a record, against docTR's default cfg for
        the same architecture. Evidence: configuration; drift in OnnxTR's own code (resize
        and padding arithmetic) shows only in a reading, `ocrdoctor compare`.
    Why it matters:
        A model normalized with other statistics than it was trained on reads worse, with
        no error: OnnxTR's classes start from docTR's defaults, not from your training config.
    Fix:
        Give the model its own cfg before building the predictor (`model.cfg = {...}`).
    Example:
        A recognizer fine-tuned with mean 0.5, served by `crnn_mobilenet_v3_small(path)`.
    Seen in the field:
        felixdittrich92/OnnxTR#76 (OnnxTR and docTR read differently until the resize was aligned).
    """
    for s in facts.sessions:
        wanted = _drift(s)
        if wanted:
            where = "the file's recorded config" if s.stored else "docTR's default cfg"
            parts = ", ".join(f"{k} {v}" for k, v in wanted.items())
            yield Problem(f"the {s.role} pre-processor differs from {where}: it should use {parts}",
                          location=s.path, fix=repaired(facts))


def _fallback(s: Session, facts: OnnxtrFacts) -> str | None:
    """"asked": an accelerator was asked for and the CPU runs it; "idle": a GPU is there and only the CPU is used."""
    if any(p != CPU for p in s.requested):
        return "asked" if s.in_use[:1] == (CPU,) else None
    return "idle" if facts.gpus and s.in_use == (CPU,) else None


def _classes(s: Session) -> int | None:
    """The graph's output classes (its last dimension), when fixed."""
    last = s.output_dims[-1] if s.output_dims else None
    return last if isinstance(last, int) else None


def arena_grows(s: Session) -> bool:
    return s.cpu_arena and s.dynamic and not s.shrinkage and s.in_use[:1] == (CPU,)


def _misfit(s: Session) -> bool:
    return bool(s.spatial and s.pre_size and s.spatial != s.pre_size)


def _drift(s: Session) -> dict[str, Any]:
    """What the pre-processor should use instead, from the file's recorded config, else docTR's default cfg."""
    reference = {k: v for k, v in s.stored.items() if k in ("mean", "std", "input_shape")} or s.doctr
    wanted: dict[str, Any] = {}
    for key, live in (("mean", s.pre_mean), ("std", s.pre_std)):
        if reference.get(key) is not None and live is not None and _rounded(reference[key]) != live:
            wanted[key] = tuple(reference[key])
    size = tuple(reference["input_shape"][-2:]) if reference.get("input_shape") else None
    if size and s.pre_size and size != s.pre_size and not s.spatial:  # a fixed graph size is OD505's
        wanted["input_shape"] = (3, *size)
    return wanted


def repaired(facts: OnnxtrFacts) -> str | None:
    """One program for every OD5xx finding of the predictor: each fix is made with all the others, so
    none undoes another (threads fitted, arena shrunk, the GPU asked for, each model's own cfg)."""
    changes: dict[str, Any] = {}
    if any(threads_started(s, facts) > facts.cpus_usable for s in facts.sessions):
        changes["threads"] = facts.cpus_usable
    if any(arena_grows(s) for s in facts.sessions):
        changes["shrink"] = True
    if any(_fallback(s, facts) == "idle" for s in facts.sessions):
        changes["providers"] = ("CUDAExecutionProvider", CPU)
    cfg = {s.role: {**({"input_shape": (3, *s.spatial)} if _misfit(s) else {}), **_drift(s)} for s in facts.sessions}
    changes["cfg"] = {role: values for role, values in cfg.items() if values}
    return rebuild_program(facts, **changes)


def threads_started(s: Session, facts: OnnxtrFacts) -> int:
    """The threads the session starts: as set, else onnxruntime's default (ORT_INTRA_OP_NUM_THREADS where the
    installed onnxruntime reads it, else one per physical core)."""
    variable = facts.variables.get("ORT_INTRA_OP_NUM_THREADS", "")
    default = int(variable) if variable.isdigit() and int(variable) > 0 else facts.cpus_physical or facts.cpus_usable
    intra = s.intra_threads if s.intra_threads > 0 else default
    inter = (s.inter_threads if s.inter_threads > 0 else default) if s.parallel else 0
    return intra + inter


def rebuild_program(facts: OnnxtrFacts, *, threads: int | None = None, shrink: bool = False,
                    providers: tuple | None = None, cfg: dict[str, dict[str, Any]] | None = None) -> str | None:
    """The predictor rebuilt as the live one is (its files, providers, threads, run options, cfg,
    vocab, page options), with the changes asked for; None when an architecture is unknown (no program would run)."""
    sessions = [s for s in facts.sessions if s.role in ("detection", "recognition")]
    if not sessions or any(s.arch is None for s in sessions):
        return None
    first = sessions[0]
    shrinkage = "cpu:0" if shrink else first.shrinkage
    factory = "ocr_predictor" if len(sessions) == 2 else f"{sessions[0].role}_predictor"
    built = {s.role: s.stored.get("arch", s.arch) for s in sessions}  # the class the file was exported as
    lines = ["import onnxruntime as ort",
             f"from onnxtr.models import EngineConfig, {factory}, {', '.join(sorted(set(built.values())))}", "",
             "options = ort.SessionOptions()",
             f"options.intra_op_num_threads = {threads if threads is not None else first.intra_threads}",
             f"options.inter_op_num_threads = {1 if threads is not None else first.inter_threads}",
             f"options.enable_cpu_mem_arena = {first.cpu_arena}"]
    engine = [f"providers={list(providers or first.requested)!r}", "session_options=options"]
    if shrinkage:
        lines += ["", "def run_options(run):",
                  f'    run.add_run_config_entry("memory.enable_memory_arena_shrinkage", "{shrinkage}")',
                  "    return run"]
        engine.append("run_options_provider=run_options")
    lines += ["", f"engine = EngineConfig({', '.join(engine)})"]
    names = []
    for s in sessions:
        name = "det" if s.role == "detection" else "reco"
        arch = built[s.role]
        vocab = f", vocab={s.stored['vocab']!r}" if "vocab" in s.stored else ""
        lines.append(f"{name} = {arch}({s.model_path!r}, engine_cfg=engine{vocab})")
        kept = {**_live_cfg(s), **((cfg or {}).get(s.role, {}))}
        if kept:
            lines.append(f"{name}.cfg = {{**{name}.cfg, " + ", ".join(f"{k!r}: {v!r}" for k, v in kept.items()) + "}")
        names.append(name)
    kept = [f"{k}={v!r}" for k, v in facts.options.items()] if factory == "ocr_predictor" else []
    lines.append(f"predictor = {factory}({', '.join(names + kept)})")
    return "\n".join(lines)


def _live_cfg(s: Session) -> dict[str, Any]:
    """The cfg values the live engine holds where they differ from its class's defaults: a rebuild keeps them."""
    out: dict[str, Any] = {}
    if s.cfg_input is not None and s.default.get("input_shape") not in (None, s.cfg_input):
        out["input_shape"] = (3, *s.cfg_input)
    for key, value in (("mean", s.cfg_mean), ("std", s.cfg_std)):
        if value is not None and s.default.get(key) not in (None, value):
            out[key] = value
    return out


def _rounded(values: Any) -> tuple[float, ...]:
    return tuple(round(float(v), 6) for v in values)


def _size(hw: tuple[int, int]) -> str:
    return f"{hw[0]}x{hw[1]}"


def _dims(dims: tuple) -> str:
    return " x ".join(str(d) for d in dims)

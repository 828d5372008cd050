"""onnxruntime in a child process: a crash in it becomes a one-line answer, not a dead ocrdoctor.

onnxruntime can crash the interpreter on a valid model (1.32 segfaults building the CPU
session of a float16 CRNN with all graph optimizations on, as OnnxTR builds it). So every
session ocrdoctor opens on a user's file is opened here, with OnnxTR's session settings; the
input goes in and the output comes back as .npy files.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT_S = 600


class OrtFailure(Exception):
    """onnxruntime could not open or run the model (a crash, an error, a timeout); one line."""


@dataclass(frozen=True)
class OrtRun:
    providers: tuple[str, ...]   # what the session really runs on
    output: Any = None           # the first output for `inputs`, as a numpy array
    seconds: float = 0.0         # median latency over `repeat` runs
    fastest: float = 0.0         # and the fastest and slowest of them
    slowest: float = 0.0


def run_isolated(model: str | Path, providers: Sequence[str], inputs: Any = None, repeat: int = 0) -> OrtRun:
    """Open a session on `model` asking for `providers`; with `inputs`, run it once and time `repeat` runs."""
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="ocrdoctor-ort-") as tmp:
        folder = Path(tmp)
        if inputs is not None:
            np.save(folder / "input.npy", inputs)
        request = {"model": str(model), "providers": list(providers), "repeat": repeat,
                   "run": inputs is not None, "folder": tmp}
        try:
            proc = subprocess.run([sys.executable, "-m", "ocrdoctor.inspect.ortrun", json.dumps(request)],
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise OrtFailure(f"onnxruntime did not finish within {TIMEOUT_S} s") from None
        if proc.returncode < 0:
            name = signal.Signals(-proc.returncode).name
            raise OrtFailure(f"onnxruntime crashed ({name}) creating or running the session")
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
            raise OrtFailure(lines[-1] if lines else f"onnxruntime exited with status {proc.returncode}")
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
        output = np.load(folder / "output.npy") if inputs is not None else None
    return OrtRun(tuple(answer["providers"]), output, answer["seconds"], answer.get("fastest", 0.0),
                  answer.get("slowest", 0.0))


CUDA = "CUDAExecutionProvider"


def cuda_probe() -> str | None:
    """Why a session asked for the CUDA provider does not run on it (in a child process), or None when it does."""
    try:
        import numpy as np
        from onnx import TensorProto, helper
    except ImportError:
        return None  # nothing to build a probe model with: no verdict
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    # IR 7 / opset 13: a model every onnxruntime still supported can load (a newer onnx writes IR 10+)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    with tempfile.TemporaryDirectory(prefix="ocrdoctor-probe-") as tmp:
        path = Path(tmp) / "probe.onnx"
        path.write_bytes(model.SerializeToString())
        try:
            run = run_isolated(path, [CUDA], np.ones((1, 4), dtype=np.float32))
        except OrtFailure as exc:
            return str(exc)
    if run.providers[:1] != (CUDA,):
        return f"a session asked for {CUDA} runs on {run.providers[0] if run.providers else 'nothing'}"
    return None


def session_options() -> Any:
    """onnxruntime session options as OnnxTR's EngineConfig builds them (all graph optimizations on)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_cpu_mem_arena = True
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # a provider fallback is reported as a finding, not a log line
    return options


def _child(request: dict) -> dict:
    import numpy as np
    import onnxruntime as ort

    from ..core.timing import Spread, spread_seconds

    session = ort.InferenceSession(request["model"], sess_options=session_options(), providers=request["providers"])
    spread = Spread(0.0, 0.0, 0.0)
    if request["run"]:
        folder = Path(request["folder"])
        feed = {session.get_inputs()[0].name: np.load(folder / "input.npy")}
        np.save(folder / "output.npy", session.run(None, feed)[0])
        if request["repeat"]:
            spread = spread_seconds(lambda: session.run(None, feed), request["repeat"], warmup=0)
    return {"providers": session.get_providers(), "seconds": spread.median, "fastest": spread.fastest,
            "slowest": spread.slowest}


if __name__ == "__main__":
    try:
        print(json.dumps(_child(json.loads(sys.argv[1]))))
    except Exception as exc:  # the parent reads the last stderr line
        print(f"{type(exc).__name__}: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(1)

"""An ONNX export read inside docTR's own predictor, so a comparison isolates the model.

docTR's pre-processor feeds the session and the docTR model of the same architecture turns its
logits into boxes or words (`exportable` models return raw logits: DBNet, LinkNet and FAST end
in a sigmoid before their post-processor, recognizers hand logits to theirs). OnnxTR's own
pipeline is another reading; its pre-processing drift is OD506's business.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .build import BuildError

_NUMPY = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}


def _fits(path: Path, port: Any, twin: Any) -> None:
    """The graph takes what docTR's pre-processor hands the twin: (batch, 3, H, W) at the twin's input size. Any
    other graph (another OCR package's, another architecture's) is refused before a page is read."""
    expected = (3, *tuple(twin.cfg.get("input_shape", (3, None, None)))[1:3])
    dims = list(port.shape)
    fixed = [(want, got) for want, got in zip(expected, dims[1:], strict=False) if isinstance(got, int) and want]
    if len(dims) != 4 or any(want != got for want, got in fixed):
        shape = "x".join(str(d) if isinstance(d, int) else "N" for d in dims)
        raise BuildError(f"{path}: not an export of this docTR architecture: its input {port.name!r} is {shape}, where "
                         f"docTR's pre-processor hands (batch, {', '.join(map(str, expected))})")


def onnx_model(path: Path, twin: Any, device: str = "cpu") -> Any:
    """A torch module the predictor can hold: onnxruntime runs `path`; `twin` post-processes."""
    import torch

    try:
        import onnxruntime as ort
    except ImportError:
        raise BuildError('an ONNX candidate needs onnxruntime: pip install "ocrdoctor[onnx]"') from None
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    try:
        session = ort.InferenceSession(str(path), providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph
        raise BuildError(f"{path}: onnxruntime cannot open it ({type(exc).__name__}: {str(exc).splitlines()[0]})") \
            from None
    if device == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        raise BuildError(f"{path}: onnxruntime has no CUDA provider here (it would run on the CPU)")
    _fits(path, session.get_inputs()[0], twin)

    class OnnxModel(torch.nn.Module):
        """The export's session, with the twin's cfg and post-processor (and its parameters, which the
        predictor reads for a device and dtype: they are never run)."""

        def __init__(self) -> None:
            super().__init__()
            self.twin = twin.eval()
            self.cfg = twin.cfg
            self.postprocessor = twin.postprocessor
            self.assume_straight_pages = getattr(twin, "assume_straight_pages", True)
            self.exportable = False
            port = session.get_inputs()[0]
            self._input, self._dtype = port.name, _NUMPY.get(port.type, "float32")

        def forward(self, x: torch.Tensor, return_preds: bool = True, return_model_output: bool = False,
                    **_: Any) -> dict[str, Any]:
            feed = {self._input: x.detach().float().cpu().numpy().astype(self._dtype)}
            logits = torch.from_numpy(session.run(None, feed)[0]).float()
            if hasattr(twin, "class_names"):  # a detector: probabilities, then boxes per class
                prob = torch.sigmoid(logits)
                maps = prob.permute(0, 2, 3, 1).numpy()
                out: dict[str, Any] = {"preds": [dict(zip(twin.class_names, p,
                                                          strict=False)) for p in twin.postprocessor(maps)]}
                if return_model_output:
                    out["out_map"] = prob
                return out
            return {"preds": twin.postprocessor(logits)}

    return OnnxModel()

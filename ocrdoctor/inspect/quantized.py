"""The float layout of a dynamic-quantized state_dict (`torch.ao.quantization.quantize_dynamic`).

A dynamic-quantized model saves its Linear and LSTM weights packed, not under the float keys a
docTR model has:
- Linear: `<prefix>._packed_params._packed_params` = (qint8 weight, float bias), beside
  `<prefix>.scale`, `<prefix>.zero_point` and `<prefix>._packed_params.dtype`
  (torch/ao/nn/quantized/dynamic/modules/linear.py, `_save_to_state_dict`);
- LSTM: `<prefix>._all_weight_values.<i>.param` = a `torch.ScriptObject` of TorchBind class
  `rnn.CellParamsBase` whose state is ("quantized_dynamic", [bias_ih, bias_hh], [], [...],
  [packed_ih, packed_hh]), each packed one a `quantized.LinearPackedParamsBase` holding
  (qint8 weight, bias) (torch/ao/nn/quantized/dynamic/modules/rnn.py, `PackedParameter`).
Mapped back to `<prefix>.weight` / `.bias` and `weight_ih_l0` / `weight_hh_l0_reverse` / ..., the
architecture is named from the float layout and OD113 compares it like any other file; the
quantized records keep their dtype, so OD124 still says what they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ..read.records import Tensor
from ..read.stubs import StubObject

LINEAR = "._packed_params._packed_params"
_LSTM = re.compile(r"^(?P<prefix>.*)\._all_weight_values\.(?P<index>\d+)\.param$")
CELL = "__torch__.torch.classes.rnn.CellParamsBase"
PACKED = "__torch__.torch.classes.quantized.LinearPackedParamsBase"


def float_layout(mapping: dict) -> tuple[tuple[str, Tensor], ...]:
    """(float key, record) for every tensor of a state_dict, packed parameters unpacked."""
    keys = {str(k) for k in mapping}
    linear = {k[:-len(LINEAR)] for k in keys if k.endswith(LINEAR)}
    dropped = {f"{p}.{suffix}" for p in linear for suffix in ("scale", "zero_point")}
    cells: dict[str, dict[int, Any]] = {}
    out: list[tuple[str, Tensor]] = []
    for raw, value in mapping.items():
        key = str(raw)
        if isinstance(value, Tensor):
            if key not in dropped:
                out.append((key, value))
        elif key.endswith(LINEAR):
            out += _linear(key[:-len(LINEAR)], value)
        elif (m := _LSTM.match(key)) and _class_of(value) == CELL:
            cells.setdefault(m["prefix"], {})[int(m["index"])] = value
    for prefix, found in cells.items():
        out += _lstm(prefix, [found[i] for i in sorted(found)])
    return tuple(out)


def consumed(mapping: dict) -> set[str]:
    """The keys whose values float_layout turned into float-layout tensors (not entries beside the weights)."""
    if not packed(mapping):
        return set()
    keys = {str(k) for k in mapping}
    linear = {k[:-len(LINEAR)] for k in keys if k.endswith(LINEAR)}
    extra = {f"{p}.{s}" for p in linear for s in ("scale", "zero_point", "_packed_params.dtype")}
    return {k for k in keys if k.endswith(LINEAR) or _LSTM.match(k) or k in extra}


def packed(mapping: dict) -> bool:
    """Whether the state_dict holds dynamic-quantized packed parameters."""
    return any(str(k).endswith(LINEAR) or _LSTM.match(str(k)) for k in mapping)


def _class_of(value: Any) -> str | None:
    """The TorchBind class a saved torch.ScriptObject names in its state."""
    state = value.__dict__.get("state") if isinstance(value, StubObject) else None
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], str):
        return state[1]
    return None


def _payload(value: Any) -> tuple:
    return value.__dict__["state"][0]


def _linear(prefix: str, value: Any) -> Iterator[tuple[str, Tensor]]:
    weight, bias = (value + (None, None))[:2] if isinstance(value, tuple) else (None, None)
    if isinstance(weight, Tensor):
        yield f"{prefix}.weight", weight
    if isinstance(bias, Tensor):
        yield f"{prefix}.bias", bias


def _lstm(prefix: str, cells: list[Any]) -> list[tuple[str, Tensor]]:
    unpacked = [_cell(c) for c in cells]
    if any(u is None for u in unpacked):
        return []
    directions = 2 if _bidirectional(unpacked) else 1
    out = []
    for i, (w_ih, w_hh, b_ih, b_hh) in enumerate(unpacked):
        suffix = f"_l{i // directions}" + ("_reverse" if directions == 2 and i % 2 else "")
        out += [(f"{prefix}.weight_ih{suffix}", w_ih), (f"{prefix}.weight_hh{suffix}", w_hh)]
        out += [(f"{prefix}.bias_ih{suffix}", b) for b in (b_ih,) if b is not None]
        out += [(f"{prefix}.bias_hh{suffix}", b) for b in (b_hh,) if b is not None]
    return out


def _cell(cell: Any) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None] | None:
    payload = _payload(cell)
    if not (isinstance(payload, tuple) and len(payload) >= 5 and isinstance(payload[4], list) and len(payload[4]) == 2):
        return None
    weights = [_payload(p)[0] if _class_of(p) == PACKED and isinstance(_payload(p), tuple) else None
               for p in payload[4]]
    if not all(isinstance(w, Tensor) for w in weights):
        return None
    biases = [b if isinstance(b, Tensor) else None for b in (list(payload[1]) + [None, None])[:2]]
    return weights[0], weights[1], biases[0], biases[1]


def _bidirectional(cells: list[tuple]) -> bool:
    """Cells are saved layer by layer, direction by direction: in a bidirectional LSTM the first two
    cells both read the input, and a second layer reads twice the hidden size."""
    if len(cells) < 2 or len(cells) % 2:
        return False
    hidden = cells[0][1].shape[1] if len(cells[0][1].shape) == 2 else None
    same_input = cells[0][0].shape == cells[1][0].shape
    return same_input and (len(cells) == 2 or (hidden is not None and cells[2][0].shape[1] == 2 * hidden))

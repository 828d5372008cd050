"""Exact evidence that a model's weights are still at their initialization (OD116, OD210).

A trained model moves every norm layer's affine parameters off 1 and 0 and its BatchNorm
statistics off their start; a model built with `pretrained=False`, or left so by a failed
download ("Invalid model URL, using default initialization", mindee/doctr#1439), does not.
Only those exact values make the verdict: weight statistics of docTR's init schemes are too
loose to tell a random model from a trained one, and a false "untrained" on a real model would
send a team to retrain for nothing. Zeroed biases are reported as support, never required.

Both the checkpoint and the live rules feed this the same leaves (name, shape, and the one value
of a tensor whose elements are all equal), so both give the same verdict on the same weights.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from ..core.units import count


class Leaf(NamedTuple):
    shape: tuple[int, ...]
    constant: float | None  # the one value of a tensor whose elements are all equal; None otherwise
    minimum: float | None = None  # of a norm layer's 1-D tensors (how far training moved them)
    maximum: float | None = None


class Evidence(NamedTuple):
    norms: int  # norm layers with affine weight exactly 1 and bias exactly 0
    statistics: int  # BatchNorm layers whose running statistics never moved
    zero_biases: int  # conv / linear biases still exactly 0 (support, not proof)
    biases: int
    fused: int = 0  # a reparameterized FAST: fused convolutions whose bias is exactly 0 (the proof there)

    def describe(self) -> str:
        if self.fused:
            return (f"{_all(self.fused, 'fused convolution')} with a bias of exactly 0: the BatchNorm folded into "
                    "them by reparameterization was at its initialization (weight 1, bias 0, mean 0)")
        parts = []
        if self.norms:
            parts.append(f"{_all(self.norms, 'norm layer')} at exactly weight 1, bias 0")
        if self.statistics:
            parts.append(f"{_all(self.statistics, 'BatchNorm layer')} with untouched running statistics")
        if self.biases:
            parts.append(f"{self.zero_biases} of {count(self.biases, 'layer bias', 'layer biases')} still 0")
        return "; ".join(parts)


def _all(n: int, noun: str) -> str:
    """'all 19 norm layers', 'the only norm layer'."""
    return f"all {n} {noun}s" if n != 1 else f"the only {noun}"


def evidence(leaves: Mapping[str, Leaf], skip: Iterable[str] = ()) -> Evidence | None:
    """The evidence that every weight is at its initialization, or None when anything moved.

    `skip` lists key prefixes to leave out (wrappers outside the model). A model without any
    norm layer gives no exact evidence, so no verdict.
    """
    skip = tuple(skip)
    names = [n for n in leaves if not n.startswith(skip)] if skip else list(leaves)
    with_bias = [n[:-5] for n in names if n.endswith(".bias")]  # only these layers can be norms or biased
    norms = [layer for layer in with_bias if is_norm(leaves, layer)]
    statistics = [n[:-13] for n in names if n.endswith(".running_mean")]
    if not norms and not statistics:
        return None
    if not all(_at_identity(leaves, layer) for layer in norms):
        return None
    if not all(_untouched(leaves, layer) for layer in statistics):
        return None
    norm_layers = set(norms)
    biases = [f"{layer}.bias" for layer in with_bias if layer not in norm_layers and _has_weight_matrix(leaves, layer)]
    zero = sum(1 for b in biases if leaves[b].constant == 0.0)
    return Evidence(len(norms), len(statistics), zero, len(biases))


def is_norm(leaves: Mapping[str, Leaf], layer: str) -> bool:
    """A 1-D weight with a 1-D bias of the same shape: BatchNorm, LayerNorm, GroupNorm affine."""
    weight, bias = leaves.get(f"{layer}.weight"), leaves.get(f"{layer}.bias")
    return weight is not None and bias is not None and len(weight.shape) == 1 and weight.shape == bias.shape


def _at_identity(leaves: Mapping[str, Leaf], layer: str) -> bool:
    return leaves[f"{layer}.weight"].constant == 1.0 and leaves[f"{layer}.bias"].constant == 0.0


def fresh_statistics(leaves: Mapping[str, Leaf], layer: str) -> bool:
    """Mean all 0 and one variance for every channel, after at most one batch.

    One batch covers docTR models whose constructor runs a dummy forward in train mode.
    """
    mean, var = leaves.get(f"{layer}.running_mean"), leaves.get(f"{layer}.running_var")
    tracked = leaves.get(f"{layer}.num_batches_tracked")
    return (
        mean is not None and mean.constant == 0.0
        and var is not None and var.constant is not None
        and (var.constant == 1.0 if tracked is None else tracked.constant is not None and tracked.constant <= 1)
    )


DUMMY_BATCHES = 3  # the most batches a docTR constructor runs to size its layers (viptr: 3)


def _untouched(leaves: Mapping[str, Leaf], layer: str) -> bool:
    """Statistics that saw no training: initial, or only the constructor's dummy batches."""
    tracked = leaves.get(f"{layer}.num_batches_tracked")
    seen = tracked.constant if tracked is not None else None
    return fresh_statistics(leaves, layer) or (seen is not None and seen <= DUMMY_BATCHES)


def _has_weight_matrix(leaves: Mapping[str, Leaf], layer: str) -> bool:
    weight = leaves.get(f"{layer}.weight")
    return weight is not None and len(weight.shape) >= 2 and f"{layer}.bias" in leaves


MIN_FUSED = 4  # fused convolutions a verdict needs


def fused_evidence(leaves: Mapping[str, Leaf]) -> Evidence | None:
    """The evidence left in a reparameterized FAST model, where no norm layer is left: fusing a BatchNorm at its
    initialization into a convolution gives a bias of beta - mean * gamma / sqrt(var + eps) = exactly 0, while a
    trained BatchNorm gives a bias that is never 0 everywhere. None when a norm layer is left (evidence() judges
    those) or any fused bias moved."""
    names = list(leaves)
    if any(is_norm(leaves, n[:-5]) for n in names if n.endswith(".bias")):
        return None
    fused = [n for n in names if n.endswith(".bias") and len(leaves.get(n[:-5] + ".weight", Leaf((), None)).shape) == 4]
    if len(fused) < MIN_FUSED or not all(leaves[n].constant == 0.0 for n in fused):
        return None
    return Evidence(0, 0, len(fused), len(fused), fused=len(fused))


def live_leaves(module) -> dict[str, Leaf]:
    """The leaves of a live torch module, read without copying it (norm and bias values only)."""
    leaves = {}
    for name, tensor in module.state_dict(keep_vars=True).items():
        constant = low = high = None
        if tensor.dim() <= 1 and tensor.numel() and tensor.device.type != "meta":
            flat = tensor.detach().reshape(-1)
            low, high = float(flat.min()), float(flat.max())
            if low == high:
                constant = low
        leaves[name] = Leaf(tuple(tensor.shape), constant, low, high)
    return leaves


RECORDED = "_ocrdoctor_untrained_before_fusion"


def reparameterize_keeping_evidence(model: Any) -> Any:
    """docTR's FAST reparameterization, in place, keeping the evidence of an untrained model.

    Fusion folds every BatchNorm into its convolution, and with it the exact evidence (weight 1,
    bias 0, untouched statistics): a random FAST model would look trained afterwards. The
    evidence found before is kept on the model with each parameter's version counter, so loading
    weights later (which bumps the counters) makes it stale and it is dropped.
    """
    from doctr.models.detection.fast import reparameterize

    before = evidence(live_leaves(model))
    fused = reparameterize(model)
    if before is not None:
        setattr(fused, RECORDED, (before, _versions(fused)))
    return fused


def recorded_evidence(model: Any) -> Evidence | None:
    """The evidence kept by `reparameterize_keeping_evidence`, if no parameter changed since."""
    kept = getattr(model, RECORDED, None)
    if kept is None:
        return None
    found, versions = kept
    return found if _versions(model) == versions else None


def _versions(model: Any) -> tuple:
    return tuple((name, t._version) for name, t in model.state_dict(keep_vars=True).items())

"""docTR models and predictors built offline, trained-looking or calibrated."""

from __future__ import annotations

from typing import Any


def offline_ocr_predictor(det_model: Any, reco_model: Any, **options) -> Any:
    """docTR's `ocr_predictor` over two model objects, with page options, without a download.

    docTR builds its orientation classifiers with `pretrained=True` whenever `straighten_pages`,
    `detect_orientation` or `assume_straight_pages=False` ask for them, even under
    `pretrained=False` (mindee/doctr#1427). Here docTR's own constructor runs with those builders
    asking for `pretrained=False`: the predictor is what docTR builds, with random orientation
    weights (right for timing and checks, not for reading rotated pages).
    """
    from unittest import mock

    from doctr import models
    from doctr.models.predictor import base

    offline = {name: _without_download(getattr(base, name))
               for name in ("crop_orientation_predictor", "page_orientation_predictor") if hasattr(base, name)}
    with mock.patch.multiple(base, **offline):
        return models.ocr_predictor(det_arch=det_model, reco_arch=reco_model, pretrained=False, **options)


def _without_download(build: Any) -> Any:
    return lambda *args, pretrained=False, **kwargs: build(*args, pretrained=False, **kwargs)


def make_trained(model: Any, seed: int = 0) -> Any:
    """Make a freshly built model look trained: the one helper every "trained" fixture goes through.

    Every parameter moves off its initial value (norm weights off 1, biases off 0, conv and
    linear weights by a few percent), and every BatchNorm layer gets running statistics a
    trained model would have (mean off 0, per-channel variances, a batch count). A fresh model
    is an untrained one (OD110, OD116): fixtures that stand for a trained model use this.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.is_floating_point():
                noise = torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype)
                p.mul_(1 + 0.05 * noise).add_(0.01 * torch.randn(p.shape, generator=gen).to(p.dtype))
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(1000)
    return model


def builder_options(arch: str) -> dict[str, bool]:
    """What builds `arch` without a download: docTR's classifiers (the orientation models) have no
    backbone to download and take no `pretrained_backbone`."""
    from doctr.models import classification

    if hasattr(classification, arch):
        return {"pretrained": False}
    return {"pretrained": False, "pretrained_backbone": False}


def doctr_model(arch: str, trained: bool = True, **kwargs) -> Any:
    """A docTR model built offline (no pretrained weights can be downloaded); trained-looking unless asked."""
    from doctr import models

    model = getattr(models, arch)(**builder_options(arch), **kwargs)
    return make_trained(model) if trained else model


def calibrate_batchnorm(model: Any, batch: Any) -> Any:
    """BatchNorm statistics measured on `batch`, as training would leave them; returns the model in eval mode.

    A randomly initialised FAST model otherwise produces logits near 1e5, where float32
    rounding alone moves probabilities by 1e-2; calibrated, it behaves like a trained one.
    """
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batch
    model.train()
    with torch.no_grad():
        model(batch, return_model_output=True)
    return model.eval()

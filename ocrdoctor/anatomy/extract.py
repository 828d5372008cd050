"""One docTR release's architecture table, read from the installed docTR (slow: builds every model).

Runs as a script inside throwaway environments holding old docTR releases (tools/doctr_tables.py):
it imports nothing from ocrdoctor and works with every release from 0.7. Its output is merged
into data/architectures.json by `ocrdoctor.anatomy.architectures.merge`.

    python ocrdoctor/anatomy/extract.py > release.json
"""

from __future__ import annotations

import json

_ALT_VOCAB = "abcde"
_ALT_CLASSES = ["c0", "c1", "c2"]


def extract() -> dict:
    """One docTR release: every detection, recognition and orientation classification architecture's
    state_dict signature, its default vocabulary or classes, and the named vocabularies it ships."""
    import doctr
    from doctr.datasets import vocabs
    from doctr.models import detection, recognition

    try:
        from doctr.models.detection.fast import reparameterize
    except ImportError:  # FAST arrived in 0.8
        reparameterize = None
    entries = []
    for task, zoo, head, alt in (
        ("detection", detection, "classes", {"class_names": _ALT_CLASSES}),
        ("recognition", recognition, "vocab", {"vocab": _ALT_VOCAB}),
    ):
        for arch in zoo.zoo.ARCHS:
            build = getattr(zoo, arch)
            model = build(pretrained=False, pretrained_backbone=False)
            other = build(pretrained=False, pretrained_backbone=False, **alt)
            default = list(model.class_names) if task == "detection" else model.vocab
            alt_count = len(_ALT_CLASSES if task == "detection" else _ALT_VOCAB)
            form = "training" if arch.startswith("fast") else "standard"
            entries.append(_entry(arch, task, form, model, other, head, default, alt_count))
            if arch.startswith("fast") and reparameterize is not None:  # reparameterize() changes the model in place
                fused, fused_other = reparameterize(model), reparameterize(other)
                entries.append(_entry(arch, task, "reparameterized", fused, fused_other, head, default, alt_count))
    entries += _orientation_entries()
    return {"doctr_version": doctr.__version__.lstrip("v"), "vocabs": dict(vocabs.VOCABS), "architectures": entries}


def _orientation_entries() -> list[dict]:
    """docTR's crop and page orientation classifiers (`ocr_predictor`'s straighten_pages, detect_orientation,
    assume_straight_pages=False); the head is `num_classes` wide, whatever the release calls its classes."""
    from doctr.models import classification

    entries = []
    for arch in getattr(classification.zoo, "ORIENTATION_ARCHS", []):
        build = getattr(classification, arch)
        model = build(pretrained=False)
        default = list(model.cfg.get("classes", range(model.cfg.get("num_classes", 4))))
        alt = len(_ALT_CLASSES)
        try:
            other = build(pretrained=False, num_classes=alt, classes=list(range(alt)))
        except TypeError:  # a release that does not take `classes`
            other = build(pretrained=False, num_classes=alt)
        entries.append(_entry(arch, "classification", "standard", model, other, "classes", default, alt))
    return entries


def _entry(arch, task, form, model, other, head, default, alt_count) -> dict:
    keys = {k: list(v.shape) for k, v in model.state_dict().items()}
    alt_keys = {k: list(v.shape) for k, v in other.state_dict().items()}
    head_dims: dict[str, list[list[int]]] = {}
    for k, shape in keys.items():
        for dim, (a, b) in enumerate(zip(shape, alt_keys.get(k, shape), strict=False)):
            if a != b and a - len(default) == b - alt_count:
                head_dims.setdefault(k, []).append([dim, a - len(default)])
    return {
        "arch": arch, "task": task, "form": form, "head": head if head_dims else None,
        "default": default if head_dims else None, "head_dims": head_dims, "keys": keys,
    }


if __name__ == "__main__":  # python ocrdoctor/anatomy/extract.py > release.json, in an environment holding docTR
    import sys

    sys.stdout.write(json.dumps(extract(), ensure_ascii=False))

"""OD2xx rules on how a live model is set up: training mode, FAST fusion, pre-processing, untrained
weights, costly page options. Fixes are code that runs on the object; devices and precision are in
checks/precision.py.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..anatomy.pageoptions import DISABLE_FLAGS, doctr_release
from ..anatomy.versions import FAST_FUSION_FIXED, FAST_FUSION_UNSOUND
from ..core.findings import Applicability, Problem, Severity
from ..core.registry import check
from ..core.units import count, listing
from ..inspect.model import ModelFacts
from . import examples as ex

SAFE = Applicability.SAFE
NUMERICS = Applicability.CHANGES_NUMERICS


@check(
    "OD207", "train-mode", Severity.ERROR, "model",
    applicability=SAFE,
    bad=[ex.model("train-mode", lambda: ex.tiny_net(train=True))],
    good=[ex.model("eval-mode", ex.tiny_net)],
)
def train_mode(facts: ModelFacts) -> Iterator[Problem]:
    """Modules whose behaviour differs in training mode are in training mode.

    What it detects:
        BatchNorm, Dropout, InstanceNorm with running statistics, and RNN / attention layers
        with dropout, left in training mode. Only such modules count: a fresh
        `ocr_predictor()` reports `training=True` on its wrapper while its models are in eval
        mode, and that is fine.
    Why it matters:
        BatchNorm normalises each batch with its own statistics (and overwrites the running
        ones), Dropout zeroes activations at random: outputs change from call to call and
        accuracy drops.
    Fix:
        `predictor.eval()` before serving.
    Example:
        `model.train()` in a fine-tuning loop, then `ocr_predictor(det_arch=model)`.
    """
    for c in facts.components:
        if c.training:
            yield Problem(f"{count(len(c.training), 'module')} of the {c.role} model ({c.cls}) are in training mode "
                          f"({listing(c.training, 3)})", location=c.path, fix=f"{facts.root}.eval()")


@check(
    "OD208", "unreparameterized-fast", Severity.WARNING, "model",
    applicability=NUMERICS,
    bad=[ex.model("fast-training-form", lambda: ex.doctr_model("fast_tiny").eval())],
    good=[ex.model("fast-reparameterized", lambda: ex.reparameterized_fast_model("fast_tiny"))],
)
def unreparameterized_fast(facts: ModelFacts) -> Iterator[Problem]:
    """A FAST detection model that was not reparameterized.

    What it detects:
        FAST convolution layers still in their multi-branch training form (separate 3x3,
        1x3, 3x1 and identity branches).
    Why it matters:
        docTR fuses them only when a predictor is built from an architecture name; a
        predictor built from a model object runs every branch, noticeably slower.
    Fix:
        `from doctr.models.detection.fast import reparameterize` and replace the model with
        `reparameterize(model)`.
        docTR 0.8's `reparameterize` changed the outputs (fixed in 0.9: measured here, the
        probability map of a fresh fast_tiny moves by 1.0 under 0.8.1 and by 2e-4 under 0.9.0
        and later); there the finding says to upgrade first, and `fix`, `export`, `optimize`
        and `bench` leave FAST unfused.
    Example:
        `ocr_predictor(det_arch=fast_base(pretrained=False), ...)`
    """
    for c in facts.components:
        if c.fast_unfused and facts.doctr_release and facts.doctr_release < FAST_FUSION_FIXED:
            yield Problem(f"{c.fast_unfused} FAST layers of {c.cls} are not reparameterized, and "
                          f"{FAST_FUSION_UNSOUND}: "
                          "upgrade docTR before fusing", location=c.path,
                          fix="# docTR 0.8's reparameterize would change the outputs: upgrade docTR first, then\n"
                              f"# from doctr.models.detection.fast import reparameterize; {c.path} = "
                              f"reparameterize({c.path})")
        elif c.fast_unfused:
            yield Problem(f"{c.fast_unfused} FAST layers of {c.cls} are not reparameterized", location=c.path,
                          fix=f"from doctr.models.detection.fast import reparameterize\n{c.path} = "
                              f"reparameterize({c.path})")


@check(
    "OD209", "preprocessing-mismatch", Severity.WARNING, "model",
    applicability=SAFE,
    bad=[ex.model("wrong-mean", lambda: ex.predictor_with_preprocessing(mean=(0.5, 0.5, 0.5))),
         ex.model("stretched-pages", lambda: ex.predictor_with_preprocessing(preserve_aspect_ratio=False)),
         ex.model("padded-at-the-corner", lambda: ex.predictor_with_preprocessing(symmetric_pad=False))],
    good=[ex.model("from-cfg", ex.predictor_with_preprocessing),
          ex.model("stretched-as-trained", lambda: ex.predictor_with_preprocessing(
              preserve_aspect_ratio=False, cfg={"preserve_aspect_ratio": False}))],
)
def preprocessing_mismatch(facts: ModelFacts) -> Iterator[Problem]:
    """The predictor's pre-processing differs from what the model was trained with.

    What it detects:
        A pre-processor whose resize size, mean or std differs from the model's `cfg`
        (`input_shape`, `mean`, `std`), or whose `preserve_aspect_ratio` / `symmetric_pad`
        differ from how the model was trained: a training config stored in its cfg when there
        is one, else what the installed docTR's predictor factory for its task sets
        (`detection_predictor`: both True; `recognition_predictor`: aspect ratio kept, padded
        at the end). The message says which it compared with.
    Why it matters:
        The model sees inputs scaled, stretched, padded or normalised differently from
        training: boxes are missed and characters misread, with no error. Switching off
        `preserve_aspect_ratio` and `symmetric_pad` on a model trained with them is
        mindee/doctr#1801. A model trained on stretched pages is right to differ from the
        factory: store that in its config and the rule compares with it.
    Fix:
        Set what differs, in place (`pre_processor.resize.size`, `.preserve_aspect_ratio`,
        `.symmetric_pad`, `pre_processor.normalize.mean` / `.std`): the printed statements
        change nothing else, so the batch size and interpolation stay (a rebuilt
        `PreProcessor` would silently stretch pages: its `Resize` defaults both flags to False
        where docTR's predictors set them).
    Example:
        `DetectionPredictor(PreProcessor((1024, 1024), 1, mean=(0.5,) * 3), model)` for a model
        trained with docTR's default statistics: a different mean, and pages stretched.
    Seen in the field:
        mindee/doctr#1801 (`preserve_aspect_ratio=False, symmetric_pad=False` on docTR's models).
    """
    for c in facts.components:
        got, want, trained = c.preprocessing, c.expected, c.trained_resize
        if got is None:
            continue
        differ = [k for k in ("size", "mean", "std") if want is not None and getattr(got, k) != getattr(want, k)]
        flags = [k for k in FLAGS if trained is not None and getattr(trained, k) is not None
                 and getattr(got, k) is not None and getattr(got, k) != getattr(trained, k)]
        if not differ and not flags:
            continue
        diffs = [f"{k} {getattr(got, k)} vs {getattr(want, k)} in cfg" for k in differ]
        diffs += [f"{k} {getattr(got, k)} vs {getattr(trained, k)} in {trained.source}" for k in flags]
        fixes = [_set_from_cfg(c.preprocessor_path, c.path, k) for k in differ]
        fixes += [f"{c.preprocessor_path}.resize.{k} = {getattr(trained, k)}" for k in flags]
        yield Problem(f"the {c.role} pre-processor differs from how the model was trained: {'; '.join(diffs)}",
                      location=c.preprocessor_path, fix="\n".join(fixes))


FLAGS = ("preserve_aspect_ratio", "symmetric_pad")


# What each pre-processing value is set from, in place: nothing else of the pre-processor changes (its batch size,
# interpolation, preserve_aspect_ratio, symmetric_pad stay as the user built them).
_FROM_CFG = {"size": ("resize.size", 'tuple({model}.cfg["input_shape"][-2:])'),
             "mean": ("normalize.mean", 'list({model}.cfg["mean"])'),
             "std": ("normalize.std", 'list({model}.cfg["std"])')}


def _set_from_cfg(pre: str, model: str, key: str) -> str:
    attribute, value = _FROM_CFG[key]
    return f"{pre}.{attribute} = {value.format(model=model)}"


@check(
    "OD210", "untrained-model", Severity.ERROR, "model",
    bad=[ex.model("fresh-predictor", lambda: ex.ocr_predictor(trained=False)),
         ex.model("fresh-recognition-model", lambda: ex.doctr_model("crnn_mobilenet_v3_small", trained=False).eval()),
         ex.model("factory-fast-reparameterized", lambda: ex.factory_predictor("fast_tiny"))],
    good=[ex.model("trained-predictor", ex.ocr_predictor),
          ex.model("trained-fast-reparameterized", lambda: ex.reparameterized_fast_model("fast_tiny")),
          ex.model("two-adamw-steps", ex.briefly_trained), ex.model("no-norm-layers", lambda: ex.torch_linear())],
)
def untrained_model(facts: ModelFacts) -> Iterator[Problem]:
    """A live model whose weights are still at their initialization.

    What it detects:
        The same exact evidence as OD116, on the loaded model: every norm layer's affine
        weight at exactly 1 and bias at exactly 0, BatchNorm statistics that saw no training.
        A FAST model docTR's factories reparameterized has no norm layer left: there the
        evidence is in the fused convolutions, whose every bias is exactly 0 when the BatchNorm
        folded into them was at its initialization (a trained one never folds to 0 everywhere).
        Any other model without norm layers gets no verdict.
    Why it matters:
        `pretrained=False`, or a pretrained download that failed and fell back to the default
        initialization, gives a predictor that runs and returns gibberish with no error.
    Fix:
        Load the trained weights: `model.load_state_dict(...)` from your checkpoint, or
        `pretrained=True` with a reachable (or pre-filled) docTR cache.
    Example:
        `ocr_predictor(det_arch=db_resnet50(pretrained=False), ...)` before loading the weights.
    Seen in the field:
        "The output is gibberish", with "Invalid model URL, using default initialization" in
        docTR's log (mindee/doctr#1439).
    """
    for c in facts.components:
        if c.untrained is not None:
            yield Problem(f"the {c.role} model ({c.cls}) is untrained: {c.untrained.describe()}", location=c.path)


@check(
    "OD212", "costly-page-options", Severity.WARNING, "model",
    applicability=NUMERICS, also=("onnxtr",),
    bad=[ex.model("straighten-pages", lambda: ex.ocr_predictor(straighten_pages=True)),
         ex.model("crop-orientation", lambda: ex.ocr_predictor(assume_straight_pages=False)),
         ex.model("detect-orientation", lambda: ex.ocr_predictor(detect_orientation=True))],
    good=[ex.model("straight-pages", ex.ocr_predictor),
          ex.model("crop-orientation-disabled",  # the flag exists from docTR 0.10
                   lambda: ex.ocr_predictor(assume_straight_pages=False, disable_crop_orientation=True),
                   when=lambda: doctr_release() >= DISABLE_FLAGS)],
)
def costly_page_options(facts: ModelFacts) -> Iterator[Problem]:
    """Predictor options that multiply the work per page.

    What it detects:
        `straighten_pages=True` (detection twice per page, plus the page orientation
        classifier), `assume_straight_pages=False` with crop orientation on (a classifier on
        every word crop), and `detect_orientation=True` (the page classifier and a
        segmentation map per page), on a docTR predictor or an OnnxTR one (same options,
        same attributes; its fixes import from `onnxtr`). Each finding names the flag that
        turns it off, and `ocrdoctor bench` times a docTR predictor with each option off.
        Evidence: the predictor's configuration, not a page.
    Why it matters:
        They are right for rotated scans and wasted on straight ones: a service that never
        sees a rotated page pays for them on every page.
    Fix:
        Turn the option off on the predictor (printed as code that fits the installed docTR),
        or at construction with `disable_crop_orientation=True` (docTR 0.10 and newer);
        measure first with `ocrdoctor bench`.
    Example:
        `ocr_predictor(pretrained=True, assume_straight_pages=False)` for straight invoices.
    Seen in the field:
        `straighten_pages` runs detection twice: felixdittrich92/OnnxTR#111. Crop orientation
        on every crop: mindee/doctr#1929, about 1 s per page before docTR 1.1 (PR #2099).
    """
    for option in facts.page_options:
        seen = f" ({option.field})" if option.field else ""
        yield Problem(f"{option.name} {option.cost}{seen}; measure it with `ocrdoctor bench`, turn it off with "
                      f"{option.advice.split('  #')[0]}", location=facts.root, fix=option.fix)

"""docTR predictor options that multiply the work per page, and how to turn each off on a live
predictor (OD212 prints these; `ocrdoctor bench` times them).

Each option is read from the predictor object, never from how it was built, and each fix is a
statement on that object, so the same code is printed, executed by the tests and timed by the
bench. `disable_crop_orientation` / `disable_page_orientation` exist from docTR 0.10 (PR #1735);
before that, the statement replaces the classifier with what docTR answers for an upright crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .versions import installed, parse

DISABLE_FLAGS = (0, 10)  # docTR release that added disable_crop_orientation / disable_page_orientation
FAST_CROP_ORIENTATION = (1, 1)  # docTR release that made crop orientation cheap (PR #2099)


@dataclass(frozen=True)
class PageOption:
    name: str  # the constructor option, as the user wrote it
    cost: str  # what it adds per page
    fix: str  # a statement on the predictor that turns it off
    advice: str  # the constructor flag that turns it off
    field: str  # the issue thread that reports the cost, if any

    def apply(self, predictor: Any) -> None:
        exec(compile(self.fix, f"<{self.name}>", "exec"), {"predictor": predictor})


def doctr_release() -> tuple[int, ...]:
    return parse(installed("doctr"))


def costly_options(predictor: Any, name: str = "predictor", release: tuple[int, ...] | None = None,
                   package: str = "doctr") -> list[PageOption]:
    """The options of an OCR / KIE predictor that add models or passes to every page, in pipeline order.
    `package="onnxtr"`: an OnnxTR predictor (the same options and attributes; its disable flags have
    always been there, and its fixes import from onnxtr)."""
    onnxtr = package == "onnxtr"
    release = DISABLE_FLAGS if onnxtr else doctr_release() if release is None else release
    classifier = _runs(getattr(predictor, "page_orientation_predictor", None))  # docTR 0.9 and newer
    found = []
    if getattr(predictor, "straighten_pages", False):
        found.append(PageOption(
            "straighten_pages=True",
            "runs the detection model twice per page" + (", plus the page orientation classifier" if classifier
                                                         else ""),
            f"{name}.straighten_pages = False", "straighten_pages=False  # if your pages are not rotated",
            "felixdittrich92/OnnxTR#111"))
    if getattr(predictor, "detect_orientation", False):
        found.append(PageOption(
            "detect_orientation=True",
            "adds " + ("the page orientation classifier and " if classifier else "")
            + "an orientation estimate from the segmentation map per page",
            f"{name}.detect_orientation = False", "detect_orientation=False  # if you do not read page orientation",
            ""))
    if crop_orientation_runs(predictor):
        slow = (" (about 1 s per page before docTR 1.1, PR #2099)"
                if not onnxtr and release < FAST_CROP_ORIENTATION else "")
        found.append(PageOption(
            "assume_straight_pages=False", f"runs the crop orientation classifier on every word crop{slow}",
            _no_crop_orientation(f"{name}.crop_orientation_predictor", release, package),
            "disable_crop_orientation=True  # if your words are upright" if release >= DISABLE_FLAGS else
            "disable_crop_orientation=True, from docTR 0.10 (until then, the statement above after building it)",
            "mindee/doctr#1929"))
    return found


def _no_crop_orientation(target: str, release: tuple[int, ...], package: str = "doctr") -> str:
    """The statement that turns the crop classifier off: docTR's (or OnnxTR's) own "disabled" predictor from
    docTR 0.10, before that a stand-in giving the answer docTR's classifier gives for an upright crop."""
    if release >= DISABLE_FLAGS:
        return (f"from {package}.models import crop_orientation_predictor\n"
                f"{target} = crop_orientation_predictor(disabled=True)")
    answer = "[[0] * len(crops), [0] * len(crops), [1.0] * len(crops)]" if release >= (0, 9) else "[0] * len(crops)"
    return ("import torch\n\n\nclass Upright(torch.nn.Module):  # every crop upright, as docTR's classifier answers\n"
            f"    def forward(self, crops):\n        return {answer}\n\n\n{target} = Upright()")


def _runs(orientation_predictor: Any) -> bool:
    return orientation_predictor is not None and getattr(orientation_predictor, "model", None) is not None


def crop_orientation_runs(predictor: Any) -> bool:
    """Whether the crop orientation classifier runs on every word crop."""
    return getattr(predictor, "assume_straight_pages", True) is False and _runs(
        getattr(predictor, "crop_orientation_predictor", None))

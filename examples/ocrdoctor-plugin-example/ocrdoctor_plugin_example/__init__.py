"""A team policy as an ocrdoctor rule: recognition checkpoints must carry their vocabulary.

Loading this module registers the rule; ocrdoctor imports it through the `ocrdoctor.checks`
entry point declared in pyproject.toml.
"""

from __future__ import annotations

from typing import Iterator

import ocrdoctor
from ocrdoctor.checks import examples as ex
from ocrdoctor.inspect.checkpoint import CheckpointFacts


def _reco(vocab: str | None):
    def make():
        sd = ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789")
        return {"model": sd, **({"vocab": vocab} if vocab else {})}

    return ex.saved(make, "with-vocab" if vocab else "without-vocab")


@ocrdoctor.check(
    "EXA100", "recognizer-without-vocab", ocrdoctor.Severity.WARNING, "checkpoint",
    fix='torch.save({"model": model.state_dict(), "vocab": model.vocab}, path)',
    applicability=ocrdoctor.Applicability.SAFE,
    bad=[_reco(None)],
    good=[_reco("0123456789")],
)
def recognizer_without_vocab(facts: CheckpointFacts) -> Iterator[ocrdoctor.Problem]:
    """A recognition checkpoint saved without the vocabulary it was trained with.

    What it detects:
        A docTR recognition state_dict with no `vocab` entry beside it.
    Why it matters:
        The serving code must rebuild the model with exactly the training vocabulary; when
        it lives only in a training script, the two drift and the text comes out shifted.
    Fix:
        Save it with the weights: `torch.save({"model": sd, "vocab": model.vocab}, path)`.
    Example:
        `torch.save(crnn_vgg16_bn(vocab=my_vocab).state_dict(), path)`
    """
    facts.require_weights()
    match = facts.architecture
    if match is None or not match.identified:
        raise ocrdoctor.Skip("not a docTR architecture")
    if match.task == "recognition" and not any(e.key == "vocab" for e in facts.entries):
        yield ocrdoctor.Problem(
            f"a {match.arch} checkpoint (vocab of {match.head_size}) saved without its vocab",
        )

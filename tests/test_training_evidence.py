"""OD127, OD128, OD213, OD214 on files made as docTR's own training scripts make them (ocrdoctor.specimens.training
mirrors references/*/train.py at v1.1.0), on the shipped pair, and on trained-looking fixtures."""

from __future__ import annotations

import json

import pytest
from conftest import run

torch = pytest.importorskip("torch")
pytest.importorskip("doctr")

from ocrdoctor import api  # noqa: E402
from ocrdoctor.checks import examples as ex  # noqa: E402
from ocrdoctor.specimens import training  # noqa: E402
from ocrdoctor.specimens.pair import trained_pair  # noqa: E402
from ocrdoctor.treat.build import trained_predictor  # noqa: E402

TRAINING_CODES = {"OD116", "OD127", "OD128", "OD110", "OD210", "OD213", "OD214"}


@pytest.fixture(scope="session")
def scripts(tmp_path_factory):
    """The files: a detector and a recognizer trained with --freeze-backbone on a random backbone, a detector
    trained with nothing frozen (all briefly)."""
    folder = tmp_path_factory.mktemp("scripts")
    files = {"det": training.detector(), "reco": training.recognizer(), "det_open": training.detector(freeze=False)}
    for name, model in files.items():
        torch.save(model.state_dict(), folder / f"{name}.pt")
    return folder


def codes(report) -> dict[str, list]:
    found: dict[str, list] = {}
    for f in report.findings:
        found.setdefault(f.rule, []).append(f)
    return found


def test_a_frozen_random_backbone_is_an_error_naming_the_block(scripts):
    result = run("check", scripts / "det.pt", "--format", "json")
    assert result.exit_code == 1
    by_code = {f["rule"]: f for f in json.loads(result.stdout)["findings"]}
    assert by_code["OD127"]["severity"] == "error" and by_code["OD127"]["location"] == "feat_extractor"
    assert "frozen random backbone" in by_code["OD127"]["message"] and "46 norm layers" in by_code["OD127"]["message"]
    assert by_code["OD128"]["severity"] == "warning" and "2 batches" in by_code["OD128"]["message"]
    assert not {"OD116", "OD110"} & set(by_code)  # one verdict per layer


def test_a_recognizer_whose_only_norm_layers_are_frozen_is_told_apart_from_an_untrained_one(scripts):
    """crnn's norm layers are all in its backbone: all at init, but their statistics counted the script's
    batches, so training ran and the backbone never got a step (OD127, not OD116)."""
    found = codes(api.check_paths(scripts / "reco.pt"))
    assert "OD127" in found and "OD116" not in found
    assert "34 norm layers" in found["OD127"][0].message and "counted 5 batches" in found["OD127"][0].message


def test_a_model_trained_with_nothing_frozen_is_only_barely_trained(scripts):
    found = codes(api.check_paths(scripts / "det_open.pt"))
    assert set(found) & TRAINING_CODES == {"OD128"}


def test_the_built_model_and_the_deployment_get_the_same_verdict(scripts):
    built = codes(api.check_paths(scripts / "det.pt", arch="db_mobilenet_v3_large"))
    assert {"OD127", "OD128", "OD213", "OD214"} <= set(built)
    assert built["OD213"][0].location == "model.feat_extractor"
    deployed = codes(api.check_deployment(scripts / "det.pt", "db_mobilenet_v3_large", scripts / "reco.pt",
                                          "crnn_mobilenet_v3_small"))
    assert len(deployed["OD127"]) == 2 and len(deployed["OD213"]) == 2  # both halves, file and predictor
    assert {f.location for f in deployed["OD213"]} == {"predictor.det_predictor.model.feat_extractor",
                                                       "predictor.reco_predictor.model.feat_extractor"}


def test_diagnose_finds_it_on_the_live_model():
    found = codes(api.diagnose(training.recognizer(), environment=False))
    assert "OD213" in found and "OD214" in found and "OD210" not in found


def test_the_shipped_pair_and_trained_looking_models_are_clean(tmp_path):
    det, det_arch, reco, reco_arch = trained_pair()
    report = api.check_deployment(det, det_arch, reco, reco_arch)
    assert not set(codes(report)) & TRAINING_CODES
    assert not set(codes(api.diagnose(trained_predictor(), environment=False))) & TRAINING_CODES
    path = tmp_path / "trained.pt"
    torch.save(ex.doctr_state_dict("db_mobilenet_v3_large"), path)
    assert not set(codes(api.check_paths(path, arch="db_mobilenet_v3_large"))) & TRAINING_CODES


def test_a_wholly_untrained_model_is_od116_alone(tmp_path):
    path = tmp_path / "fresh.pt"
    torch.save(ex.doctr_state_dict("db_mobilenet_v3_large", trained=False), path)
    found = codes(api.check_paths(path, arch="db_mobilenet_v3_large"))
    assert set(found) & TRAINING_CODES == {"OD116", "OD210"}


def test_statistics_recalibrated_on_few_batches_are_not_barely_trained(tmp_path):
    """num_batches_tracked alone is never enough: weights far from init say the model was trained."""
    model = ex.make_trained(ex.doctr_model("db_mobilenet_v3_large", trained=False))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.num_batches_tracked.fill_(12)
    path = tmp_path / "recalibrated.pt"
    torch.save(model.state_dict(), path)
    assert not set(codes(api.check_paths(path))) & TRAINING_CODES


def test_a_block_is_judged_on_two_norm_layers_or_more():
    from ocrdoctor.anatomy.training import training as evidence
    from ocrdoctor.anatomy.untrained import Leaf

    one = Leaf((4,), 1.0, 1.0, 1.0), Leaf((4,), 0.0, 0.0, 0.0)
    moved = Leaf((4,), None, 0.5, 1.5), Leaf((4,), None, -0.2, 0.3)
    leaves = {"a.0.weight": one[0], "a.0.bias": one[1], "b.0.weight": moved[0], "b.0.bias": moved[1]}
    assert evidence(leaves).frozen() == ()
    leaves |= {"a.1.weight": one[0], "a.1.bias": one[1]}
    assert [b.name for b in evidence(leaves).frozen()] == ["a"]


def _installed_archs() -> list[str]:
    from doctr import models

    from ocrdoctor.anatomy.architectures import arch_names

    return [a for a in arch_names() if hasattr(models, a)]


@pytest.mark.slow
@pytest.mark.parametrize("arch", _installed_archs())
def test_od210_on_what_docTRs_factories_build_for_every_architecture(arch):
    """`ocrdoctor rules --archs`, each built as docTR's own factory builds it offline (FAST reparameterized by
    detection_predictor; the orientation classifiers as their constructors build them): all untrained."""
    from ocrdoctor.anatomy.architectures import signatures
    from ocrdoctor.specimens.models import builder_options

    task = next(s.task for s in signatures() if s.arch == arch)
    obj = (ex.factory_predictor(arch) if task in ("detection", "recognition")
           else getattr(__import__("doctr.models", fromlist=[arch]), arch)(**builder_options(arch)).eval())
    found = codes(api.diagnose(obj, environment=False))
    assert "OD210" in found, sorted(found)

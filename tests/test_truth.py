"""Proofs that say when they prove little, and the base's own accuracy where the pages' true text is known:
the shipped samples' truth.json, or `--truth FILE` for the user's own pages."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import run

torch = pytest.importorskip("torch")
pytest.importorskip("doctr")

from ocrdoctor.inspect.truth import LITTLE, accuracy, load_truth, proves_little, shipped_truth  # noqa: E402
from ocrdoctor.specimens import training  # noqa: E402
from ocrdoctor.specimens.pair import sample_pages, trained_pair, truth  # noqa: E402

DET, DET_ARCH, RECO, RECO_ARCH = trained_pair()
PAIR = ["--det", DET, "--det-arch", DET_ARCH, "--reco", RECO, "--reco-arch", RECO_ARCH]


@pytest.fixture(scope="module")
def blind(tmp_path_factory):
    """A recognizer as docTR's script leaves it after a few batches on a frozen random backbone: reads nothing."""
    path = tmp_path_factory.mktemp("blind") / "reco.pt"
    torch.save(training.recognizer(vocab="french").state_dict(), path)
    return path


def test_accuracy_counts_each_true_word_once_per_page():
    known = load_truth_dict({"a.png": "the cat the", "b.png": ["x"]})
    found = accuracy({"/some/where/a.png": ["the", "the", "the", "dog"], "c.png": ["y"]}, known)
    assert (found.right, found.total, found.pages) == (2, 3, 1)  # c.png has no truth; a third "the" is not true
    assert proves_little({"a.png": ["the"]}, known) is None
    assert "reads 0 words on 2 pages" in proves_little({"a.png": [], "b.png": []}, known)
    assert proves_little({"a.png": ["cat"], "b.png": ["y"]}, known) is None  # 1 of 4 true words: at the line
    ten = load_truth_dict({"a.png": " ".join(f"w{i}" for i in range(10))})
    assert "gets 1/10 true words read right (10%)" in proves_little({"a.png": ["w1", "zz"]}, ten)
    assert LITTLE == 0.2


def load_truth_dict(data, tmp=None):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "truth.json"
    path.write_text(json.dumps(data))
    return load_truth(path)


def test_the_shipped_truth_knows_every_sample_page_and_crop():
    known = shipped_truth()
    assert {p.name for p in sample_pages()} <= set(known.pages)
    assert sum(len(known.pages[p.name]) for p in sample_pages()) == sum(len(v) for v in truth()["pages"].values())


def test_compare_shows_the_bases_own_accuracy_on_the_samples():
    result = run("compare", *PAIR, "--candidate-dtype", "float64")
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("the base: "))
    right, total = map(int, line.split()[2].split("/"))
    assert total == 150 and right / total > 0.9 and "(the samples' truth.json)" in line
    assert "proves little" not in result.stdout


def test_compare_of_a_base_that_reads_nothing_says_the_proof_proves_little(blind):
    result = run("compare", "--det", DET, "--det-arch", DET_ARCH, "--reco", blind, "--reco-arch", RECO_ARCH,
                 "--candidate-reco", blind)
    assert result.exit_code == 0 and "reads the same on 3 pages" in result.stdout
    assert "but the base gets 0/150 true words read right (0%)" in result.stdout


def test_truth_for_the_users_own_pages(tmp_path):
    page = tmp_path / "scan.png"
    shutil.copy(sample_pages()[0], page)
    words = truth()["pages"][sample_pages()[0].name]
    (tmp_path / "t.json").write_text(json.dumps({"scan.png": " ".join(words)}))
    result = run("compare", page, *PAIR, "--candidate-dtype", "float64", "--truth", tmp_path / "t.json")
    assert result.exit_code == 0, result.stderr
    assert f"/{len(words)} true words read right" in result.stdout and "on 1 page (t.json)" in result.stdout
    assert "the base: " not in run("compare", page, *PAIR, "--candidate-dtype", "float64").stdout  # no truth known
    (tmp_path / "bad.json").write_text("[1, 2]")
    bad = run("compare", page, *PAIR, "--candidate-dtype", "float64", "--truth", tmp_path / "bad.json")
    assert bad.exit_code == 2 and "expected JSON of page name to its text" in bad.stderr


def test_fix_says_its_proof_proves_little_on_a_model_that_reads_nothing(blind, tmp_path):
    half = tmp_path / "half.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in torch.load(blind).items()}, half)
    result = run("fix", half, "-o", tmp_path / "fixed.pt", "--dtype", "float32")
    assert result.exit_code == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("in words: "))
    assert "but the model before" in line and "proves little" in line


def test_a_proof_on_the_trained_pair_is_not_called_little(tmp_path):
    from ocrdoctor.treat.build import build_model
    from ocrdoctor.treat.proof import prove

    model = build_model(RECO, RECO_ARCH)
    assert prove(model, model).little is None
    det = build_model(DET, DET_ARCH)
    assert prove(det, det).little is None
    blind_det = training.detector()
    little = prove(blind_det, blind_det).little
    assert little is not None and little.startswith("the model before finds")

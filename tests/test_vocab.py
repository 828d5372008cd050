"""`--vocab` wherever ocrdoctor builds a recognizer, on recognizers saved as docTR's training script saves them
(`torch.save(model.state_dict())`: no vocab in the file)."""

from __future__ import annotations

import json

import pytest
from conftest import run

torch = pytest.importorskip("torch")
pytest.importorskip("doctr")

from ocrdoctor import api  # noqa: E402
from ocrdoctor.core.engine import UsageError  # noqa: E402
from ocrdoctor.inspect.vocab import VocabError, resolve_vocab  # noqa: E402
from ocrdoctor.specimens import training  # noqa: E402
from ocrdoctor.specimens.pair import trained_pair  # noqa: E402
from ocrdoctor.treat.build import VocabChosen, build_model  # noqa: E402

ARCH = "crnn_mobilenet_v3_small"


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Recognizers as references/recognition/train.py saves them with --vocab english and --vocab digits."""
    folder = tmp_path_factory.mktemp("vocab")
    for vocab in ("english", "digits"):
        torch.save(training.recognizer(vocab=vocab, freeze=False).state_dict(), folder / f"{vocab}.pt")
    return folder


def test_a_vocab_is_a_docTR_name_a_file_or_the_characters(tmp_path):
    from doctr.datasets import VOCABS

    assert resolve_vocab("digits") == (VOCABS["digits"], "docTR's digits")
    path = tmp_path / "v.txt"
    path.write_text("ab\n\n", encoding="utf-8")  # one trailing newline is the file's end, the other a character
    assert resolve_vocab(str(path)) == ("ab\n", f"the file {path}")
    assert resolve_vocab("xyz") == ("xyz", "the characters given")
    assert resolve_vocab("x" * 5000)[1] == "the characters given"  # no file system takes that name
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(VocabError, match="cannot read"):
        resolve_vocab(str(path))


def test_one_string_under_four_names_builds_and_says_so(trained):
    """docTR 1.1's english, indonesian, malay and zulu are one string: OD117 names them as one vocab, and the
    model is built with it, with a note (never exit 2, never OD126)."""
    result = run("check", trained / "english.pt", "--arch", ARCH, "--format", "json")
    report = json.loads(result.stdout)
    rules = {f["rule"]: f for f in report["findings"]}
    assert "OD126" not in rules and result.exit_code == 0
    assert "english (the same characters as indonesian, malay, zulu)" in rules["OD117"]["message"]
    assert "note:" in result.stderr and "built crnn_mobilenet_v3_small with docTR's english" in result.stderr
    assert [t["status"] for t in report["targets"]] == ["checked", "checked"]
    with pytest.warns(VocabChosen):
        assert build_model(trained / "english.pt", ARCH).vocab.startswith("0123456789abc")


def test_a_head_several_vocabs_fit_names_vocab_and_the_sidecar(trained):
    result = run("check", trained / "digits.pt", "--arch", ARCH)
    assert result.exit_code == 1 and "OD126" in result.stdout
    assert "--vocab" in result.stdout and "digits.config.json" in result.stdout
    good = run("check", trained / "digits.pt", "--arch", ARCH, "--vocab", "digits", "--format", "json")
    assert good.exit_code == 0 and "OD126" not in good.stdout
    assert json.loads(good.stdout)["targets"][1]["status"] == "checked"


def test_a_vocab_that_does_not_fit_or_contradicts_the_file_is_exit_2(trained, tmp_path):
    result = run("check", trained / "digits.pt", "--arch", ARCH, "--vocab", "french")
    assert result.exit_code == 2 and "126 characters" in result.stderr and "a vocab of 10" in result.stderr
    stored = tmp_path / "stored.pt"
    torch.save({"model": torch.load(trained / "digits.pt"), "vocab": "9876543210"}, stored)
    result = run("check", stored, "--arch", ARCH, "--vocab", "digits")
    assert result.exit_code == 2 and "differs from the vocab stored" in result.stderr
    assert run("check", trained / "digits.pt", "--vocab", "digits").exit_code == 2  # no --arch: nothing to build
    with pytest.raises(UsageError, match="differs"):
        api.check_paths(stored, arch=ARCH, vocab="digits")


def test_the_python_functions_take_vocab(trained):
    assert "OD126" not in {f.rule for f in api.check_paths(trained / "digits.pt", arch=ARCH, vocab="digits").findings}
    det, det_arch, _, _ = trained_pair()
    report = api.check_deployment(det, det_arch, trained / "digits.pt", ARCH, vocab="0123456789")
    assert "OD126" not in {f.rule for f in report.findings}


def test_fix_keeps_the_given_vocab_beside_the_weights(trained, tmp_path):
    out = tmp_path / "clean.pt"
    result = run("fix", trained / "digits.pt", "-o", out, "--vocab", "digits")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "clean.config.json").read_text())["vocab"] == "0123456789"
    assert "OD117" not in {f.rule for f in api.check_paths(out, arch=ARCH).findings}  # the sidecar is read


def test_export_builds_with_the_vocab_and_records_it(trained, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "digits.onnx"
    result = run("export", trained / "digits.pt", "--arch", ARCH, "-o", out, "--vocab", "digits", "--repeat", "1")
    assert result.exit_code == 0, result.stderr
    import onnx

    metadata = {p.key: p.value for p in onnx.load(str(out), load_external_data=False).metadata_props}
    assert "0123456789" in json.dumps(metadata)


def test_compare_candidate_without_a_vocab_inherits_the_bases(trained, tmp_path):
    det, det_arch, _, _ = trained_pair()
    copy = tmp_path / "candidate.pt"
    copy.write_bytes((trained / "digits.pt").read_bytes())
    result = run("compare", "--det", det, "--det-arch", det_arch, "--reco", trained / "digits.pt", "--reco-arch",
                 ARCH, "--vocab", "digits", "--candidate-reco", copy)
    assert result.exit_code == 0, result.stderr
    assert "reads the same" in result.stdout
    wrong = run("compare", "--det", det, "--det-arch", det_arch, "--reco", trained / "digits.pt", "--reco-arch",
                ARCH, "--vocab", "digits", "--candidate-reco", copy, "--candidate-vocab", "english")
    assert wrong.exit_code == 2 and "a vocab of 10" in wrong.stderr


def test_rules_lists_the_installed_vocabs():
    from doctr.datasets import VOCABS

    result = run("rules", "--vocabs")
    assert result.exit_code == 0
    line = next(x for x in result.stdout.splitlines() if x.split()[:1] == ["english"])
    assert line.split()[1] == str(len(VOCABS["english"])) and "indonesian" in line and "zulu" in line
    listed = json.loads(run("rules", "--vocabs", "--format", "json").stdout)["vocabs"]
    assert {v["name"] for v in listed} == set(VOCABS)
    assert run("rules", "--vocabs", "--archs").exit_code == 2


def test_bench_builds_the_recognizer_with_the_vocab_given(trained):
    result = run("bench", "--reco", trained / "digits.pt", "--vocab", "digits", "--repeat", "1", "--words", "2",
                 "--no-onnx", "--no-read")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("RecognitionPredictor on cpu")
    wrong = run("bench", "--reco", trained / "digits.pt", "--vocab", "french", "--repeat", "1", "--no-onnx")
    assert wrong.exit_code == 2 and "126 characters" in wrong.stderr


def test_a_vocab_given_for_a_detector_is_refused(tmp_path):
    from ocrdoctor.checks import examples as ex

    det = tmp_path / "det.pt"
    torch.save(ex.doctr_state_dict("db_mobilenet_v3_large"), det)
    result = run("fix", det, "-o", tmp_path / "out.pt", "--vocab", "digits")
    assert result.exit_code == 2 and "is a recognizer's, and this is db_mobilenet_v3_large" in result.stderr
    assert not (tmp_path / "out.pt").exists()

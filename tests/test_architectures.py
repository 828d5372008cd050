"""The release tables: they match the installed docTR, every architecture identifies itself, and the
release a checkpoint fits is named. The table tests run without torch; the rest need docTR."""

from __future__ import annotations

import json

import pytest

from ocrdoctor.anatomy import architectures, heads
from ocrdoctor.anatomy.architectures import identify, reference_release, release_range, releases_of
from tests.conftest import require_arch


def _shapes(arch: str, release: str) -> dict:
    sig = next(s for s in architectures.signatures() if s.arch == arch and release in s.releases
               and s.form != "reparameterized")
    return dict(sig.keys)


def test_the_table_covers_every_release_from_0_7_without_duplicates():
    releases = architectures.all_releases()
    assert releases[0] == "0.7.0" and releases[-1] == "1.1.0" and len(releases) == 10
    keys = [(s.arch, s.form, s.head_default, json.dumps(dict(s.keys))) for s in architectures.signatures()]
    assert len(keys) == len(set(keys))
    assert releases_of("fast_tiny")[0] == "0.8.1" and releases_of("viptr_tiny")[0] == "0.12.0"
    assert "legacy_french" in architectures.release_vocabs("0.12.0")
    assert "legacy_french" not in architectures.release_vocabs("1.0.0")
    assert len(architectures.release_vocabs("0.11.0")["multilingual"]) == 195
    assert len(architectures.release_vocabs("0.12.0")["multilingual"]) == 726


def test_merge_stores_identical_signatures_and_vocabularies_once():
    entry = {"arch": "a", "task": "recognition", "form": "standard", "head": "vocab", "default": "xyz",
             "head_dims": {"w": [[0, 1]]}, "keys": {"w": [4, 2]}}
    raw = [{"doctr_version": v, "vocabs": {"small": "xyz"}, "architectures": [dict(entry)]} for v in ("0.9.0",
                                                                                                      "0.10.0")]
    table = architectures.merge(raw)
    assert table["releases"] == ["0.9.0", "0.10.0"]
    [sig] = table["signatures"]
    assert sig["releases"] == ["0.9.0", "0.10.0"] and sig["head_default"] == 3
    assert [v["names"] for v in table["vocabs"]] == [{"small": ["0.9.0", "0.10.0"]}]


def test_the_release_range_a_checkpoint_fits_is_named():
    match = identify(_shapes("parseq", "0.11.0"))
    assert match.arch == "parseq" and match.fits
    assert release_range(match.releases) == "0.7.0-0.11.0"
    assert "docTR 0.7.0-0.11.0" in match.describe()


def test_a_layout_only_older_releases_have_is_drift(monkeypatch):
    monkeypatch.setattr(architectures, "reference_release", lambda: ("1.1.0", True))
    monkeypatch.setattr(heads, "reference_release", lambda: ("1.1.0", True))
    drift = heads.layout_drift(identify(_shapes("parseq", "0.11.0")))
    assert drift.startswith("the weights fit docTR 0.7.0-0.11.0's layout of parseq, not the installed docTR")
    monkeypatch.setattr(architectures, "reference_release", lambda: ("0.7.0", True))
    monkeypatch.setattr(heads, "reference_release", lambda: ("0.7.0", True))
    fast = heads.layout_drift(identify(_shapes("fast_tiny", "1.1.0")))
    assert "which arrived in docTR 0.8.1: the installed docTR 0.7.0 cannot build it" in fast


def test_without_docTR_the_newest_release_stands_in(monkeypatch):
    from ocrdoctor.anatomy import versions

    reference_release.cache_clear()
    monkeypatch.setattr(versions, "installed", lambda name: None)
    try:
        assert reference_release() == ("1.1.0", False)
        assert "docTR is not installed: compared with 1.1.0" in heads.reference_note()
    finally:
        reference_release.cache_clear()


def test_unrelated_weights_are_not_identified():
    match = identify({"fc.weight": (10, 4), "fc.bias": (10,)})
    assert match is None or not match.identified


def test_a_shared_prefix_is_seen_through():
    shapes = {f"model.{k}": v for k, v in _shapes("crnn_mobilenet_v3_small", "1.1.0").items()}
    match = identify(shapes)
    assert (match.arch, match.prefix, match.fits) == ("crnn_mobilenet_v3_small", "model.", True)


def test_dumps_is_stable_json():
    table = {"releases": ["1.0.0"], "signatures": [{"keys": {"a.weight": [3, 4]}}]}
    text = architectures.dumps(table)
    assert json.loads(text) == table and '"a.weight": [3, 4]' in text


# --- with docTR ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_installed_release_matches_its_entries():
    """Extracts the installed docTR's signatures; on failure run `python tools/doctr_tables.py`."""
    pytest.importorskip("doctr")
    from ocrdoctor.anatomy.extract import extract

    fresh = extract()
    release = fresh["doctr_version"]
    assert release in architectures.all_releases(), f"docTR {release} is not in the table"
    assert fresh["vocabs"] == architectures.release_vocabs(release)
    for entry in fresh["architectures"]:
        sig = next((s for s in architectures.signatures() if s.arch == entry["arch"] and s.form == entry["form"]
                    and release in s.releases), None)
        assert sig is not None, entry["arch"]
        assert {k: tuple(v) for k, v in entry["keys"].items()} == dict(sig.keys), entry["arch"]
        assert sig.head_default == (len(entry["default"]) if entry["default"] is not None else None)
        if entry["task"] == "recognition":
            assert sig.default_vocabs[release] == entry["default"]


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted(set(architectures.arch_names())))
def test_each_architecture_identifies_itself(arch):
    require_arch(arch)
    from ocrdoctor.checks import examples as ex

    shapes = {k: tuple(v.shape) for k, v in ex.doctr_model(arch, trained=False).state_dict().items()}
    match = identify(shapes)
    named = {match.arch, *match.same_layout}  # the crop and page orientation classifiers share one layout
    assert (arch in named, match.score, match.identified, match.fits) == (True, 1.0, True, True)
    assert len(named) == 1 or architectures.arch_task(arch) == "classification"
    assert reference_release()[0] in match.releases


def test_vitstr_small_and_base_share_keys_but_not_shapes():
    pytest.importorskip("doctr")
    from ocrdoctor.checks import examples as ex

    shapes = {k: tuple(v.shape) for k, v in ex.doctr_model("vitstr_small").state_dict().items()}
    assert identify(shapes).arch == "vitstr_small"
    assert identify(shapes, "vitstr_base").mismatched


def test_installed_versions_agree_with_importlib_metadata():
    """The dist-info scan that spares a plain check importlib.metadata gives its answers."""
    import importlib.metadata

    from ocrdoctor.anatomy import versions as v

    for package in ("numpy", "click", "psutil", "pytest", "no-such-distribution"):
        try:
            expected = importlib.metadata.version(v.DISTRIBUTIONS.get(package, package))
        except importlib.metadata.PackageNotFoundError:
            expected = None
        assert v.installed(package) == expected, package


@pytest.mark.parametrize("arch", ["mobilenet_v3_small_crop_orientation", "mobilenet_v3_small_page_orientation"])
def test_docTRs_orientation_classifiers_are_known_and_accepted_by_arch(tmp_path, arch):
    """The classifiers straighten_pages, detect_orientation and assume_straight_pages=False build: identified from
    the file (the two share one layout, so the file names the family), and `--arch` builds and checks each."""
    torch = pytest.importorskip("torch")
    from ocrdoctor.anatomy.architectures import arch_names, arch_task
    from ocrdoctor.api import check_path, check_paths
    from ocrdoctor.specimens.models import doctr_model

    assert arch in arch_names() and arch_task(arch) == "classification"
    path = tmp_path / "orientation.pt"
    torch.save(doctr_model(arch, num_classes=2).state_dict(), path)
    facts = check_path(path).targets[0].summary
    assert facts["architecture"] == ("mobilenet_v3_small_crop_orientation (classification, classes of 2, or "
                                     "mobilenet_v3_small_orientation or mobilenet_v3_small_page_orientation: "
                                     "the same layout, docTR 0.9.0-1.1.0)")  # 0.7-0.8 called it that
    report = check_paths(path, arch=arch)
    assert [t.kind for t in report.targets] == ["checkpoint", "model"] and list(report.findings) == []
    assert report.targets[1].target == f"{path} as {arch}"

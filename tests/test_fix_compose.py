"""One fix per file, made whole: the programs a report prints for a file compose.

For every committed checkpoint, the layouts teams save (Lightning, DDP, EMA, GPU-saved, half-done casts,
float64, FAST in its training form, views of large storages, a vocab beside the weights) and the demo's own
file: run the printed programs in the printed order, and each alone, in a fresh folder; every file they
write is clean of the codes they claim to clear and shows no code the source did not have.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from ocrdoctor.api import check_path  # noqa: E402
from ocrdoctor.checks import examples as ex  # noqa: E402
from ocrdoctor.checks.programs import REWRITTEN  # noqa: E402

DATA = Path(__file__).parent / "data" / "checkpoints"
# Codes a rewrite does not claim to clear and that may stay (they describe the weights, not the file).
DESCRIBE = {"OD112", "OD116", "OD110", "OD109", "OD117", "OD119"}


def layouts() -> dict[str, Callable[[Path], None]]:
    """The files teams save, each written to a path."""
    def saved(make, **kwargs):
        return lambda path: torch.save(make(), path, **kwargs)

    def gpu(path: Path) -> None:
        ex.saved_from("cuda:0", ex.ddp_training_checkpoint, "x").write(path)

    def fast(path: Path) -> None:
        torch.save({"model": ex.doctr_state_dict("fast_tiny"), "epoch": 3}, path)

    def with_vocab(path: Path) -> None:
        from doctr import models

        model = models.crnn_mobilenet_v3_small(pretrained=False, pretrained_backbone=False, vocab="0123456789")
        ex.make_trained(model)
        torch.save({"model": {f"module.{k}": v for k, v in model.state_dict().items()}, "vocab": "0123456789",
                    "optimizer": {"lr": 0.1}}, path)

    return {
        "lightning.ckpt": saved(ex.lightning_checkpoint),
        "ddp-training.pt": saved(ex.ddp_training_checkpoint),
        "gpu-ddp-training.pt": gpu,
        "half-done-cast.pt": saved(lambda: {**ex.tiny_state_dict("float16"),
                                            "0.weight": ex.tiny_state_dict()["0.weight"]}),
        "float64.pt": saved(lambda: {"state_dict": ex.tiny_state_dict("float64")}),
        "legacy.pt": saved(lambda: {"model": ex.tiny_state_dict()}, _use_new_zipfile_serialization=False),
        "views.pt": saved(ex.with_view_of_large_storage),
        "fast-training.pt": fast,
        "reco-with-vocab.pt": with_vocab,
    }


def sources(folder: Path) -> list[Path]:
    pytest.importorskip("doctr")
    from ocrdoctor.cli.demo import write_demo_checkpoint

    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(p for p in DATA.iterdir() if p.is_file())
    for name, write in layouts().items():
        write(folder / name)
        paths.append(folder / name)
    paths.append(write_demo_checkpoint(folder))
    return paths


def programs(report) -> list[tuple[str, tuple[str, ...]]]:
    """(program, the codes it claims to clear), in the order the text report prints them."""
    found: dict[str, list[str]] = {}
    for f in report.findings:
        if f.fix and f.applicability is not None:
            found.setdefault(f.fix, []).append(f.rule)
    return [(program, tuple(codes)) for program, codes in found.items()]


def run_in(folder: Path, program: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(folder)
    try:
        exec(compile(program, "<printed fix>", "exec"), {})
    finally:
        os.chdir(here)


def written(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix in (".pt", ".safetensors")] if folder.exists() else []


@pytest.mark.slow
def test_the_printed_programs_compose_and_each_alone_clears_what_it_claims(tmp_path):
    wrong = []
    for source in sources(tmp_path / "sources"):
        report = check_path(source)
        before = {f.rule for f in report.findings}
        printed = programs(report)
        rewrite_programs = {p for p, codes in printed if set(codes) & REWRITTEN}
        if len(rewrite_programs) > 1:
            wrong.append(f"{source.name}: {len(rewrite_programs)} different programs rewrite the file")
        runs = [("in order", printed)] + [(f"alone {codes}", [(p, codes)]) for p, codes in printed]
        for label, chosen in runs:
            folder = tmp_path / "runs" / source.name / label.replace(" ", "-")
            for program, _ in chosen:
                run_in(folder, program)
            claimed = {c for _, codes in chosen for c in codes}
            for out in written(folder):
                after = {f.rule for f in check_path(out).findings}
                if after & claimed:
                    wrong.append(f"{source.name} {label}: {out.name} still has {sorted(after & claimed)}")
                if after - before - DESCRIBE:
                    wrong.append(f"{source.name} {label}: {out.name} has new codes {sorted(after - before)}")
    assert wrong == []


def test_every_rewrite_finding_on_one_file_carries_the_same_program_and_command(tmp_path):
    """The demo's kind of file (training state, a DataParallel prefix, saved from cuda:0): OD103, OD104, OD105
    and OD106 share one program and one `ocrdoctor fix` command, in JSON as in text."""
    import json

    from tests.conftest import run

    path = tmp_path / "gpu-ddp-training.pt"
    layouts()["gpu-ddp-training.pt"](path)
    data = json.loads(run("check", path, "--format", "json").stdout)
    rewrites = [f for f in data["findings"] if f["rule"] in REWRITTEN]
    assert {f["rule"] for f in rewrites} >= {"OD103", "OD104", "OD105", "OD106"}
    assert len({f["fix"] for f in rewrites}) == 1 and len({f["command"] for f in rewrites}) == 1
    text = run("check", path).stdout
    assert text.count("fix for OD103, OD104, OD105, OD106") == 1 and text.count('torch.save(sd, "weights.pt")') == 1


def test_the_od117_program_writes_a_plain_state_dict_and_the_config_docTR_reads(tmp_path):
    """No circle: the vocab goes beside the weights, so the file stays one that plain loaders take, and neither
    OD117 nor OD104 comes back."""
    pytest.importorskip("doctr")
    from doctr.datasets import VOCABS
    from doctr.models import crnn_mobilenet_v3_small

    source = tmp_path / "reco_epoch3.pt"
    torch.save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab=VOCABS["ascii_letters"])}, source)
    report = check_path(source)
    [od117] = [f for f in report.findings if f.rule == "OD117"]
    assert od117.applicability.value == "review" and 'VOCAB = VOCABS["ascii_letters"]' in od117.fix
    assert od117.fix == next(f for f in report.findings if f.rule == "OD104").fix  # one program for the file
    out = tmp_path / "run"
    run_in(out, od117.fix)
    weights = out / "weights.pt"
    model = crnn_mobilenet_v3_small(pretrained=False, pretrained_backbone=False, vocab=VOCABS["ascii_letters"])
    model.load_state_dict(torch.load(weights, weights_only=True))  # the plain load
    model.from_pretrained(str(weights))  # docTR's own
    config = __import__("json").loads((out / "weights.config.json").read_text())
    assert config == {"arch": "crnn_mobilenet_v3_small", "vocab": VOCABS["ascii_letters"], "input_shape": [3, 32, 128]}
    assert not {"OD117", "OD104"} & {f.rule for f in check_path(weights).findings}

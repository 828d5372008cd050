"""`ocrdoctor demo`: the trained pair reads a page; its detector, saved as training scripts save it, is
checked, repaired with `ocrdoctor fix`, and proven to read the same words with `ocrdoctor compare`.

The broken checkpoint is what a team's training script commonly saves: the DataParallel-wrapped
model's state_dict under "model", the AdamW and scheduler state of the last step, the epoch and
the arguments, all saved while the model sat on cuda:0.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..core.units import count
from . import common

DEMO_ARCH = "db_mobilenet_v3_large"
SHOWN_WORDS = 8


def write_demo_checkpoint(folder: Path) -> Path:
    """The trained pair's detector after its last training step (a one-cycle schedule ends at lr 0, so the
    weights are the pair's), saved the way training scripts often do."""
    import numpy as np
    import torch

    from ..specimens.files import storages_tagged
    from ..specimens.pair import trained_pair
    from ..treat.build import build_model

    det_path, arch, _, _ = trained_pair()
    inner = build_model(det_path, arch)
    model = torch.nn.DataParallel(inner)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.0)  # the schedule's end
    boxes = [{"words": np.array([[0.1, 0.1, 0.6, 0.3], [0.2, 0.5, 0.9, 0.7]], dtype=np.float32)}] * 2
    model.eval()  # the loss without moving BatchNorm's statistics: the weights stay the pair's
    model(torch.rand(2, 3, 512, 512), target=boxes)["loss"].backward()
    opt.step()
    sched.step()
    model.train()
    cfg = inner.cfg
    ckpt = {
        "epoch": 12,
        "model": model.state_dict(),  # keys start with "module."
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "args": {"arch": arch, "lr": 2e-3, "batch_size": 4, "input_shape": list(cfg["input_shape"]),
                 "mean": list(cfg["mean"]), "std": list(cfg["std"])},
    }
    path = folder / DEMO_FILES[0]
    with storages_tagged("cuda:0"):
        torch.save(ckpt, path)
    return path


def _read_a_page() -> None:
    """The trained pair reading its first sample page, beside the page's true text and how much of it is right."""
    from ..inspect.truth import accuracy, shipped_truth
    from ..specimens.pair import sample_pages
    from ..treat.build import trained_predictor
    from ..treat.pages import load_pages

    page = load_pages([sample_pages()[0]])[0]
    click.echo(">>> ocrdoctor.trained_predictor()([page])   # the docTR pair that ships with ocrdoctor")
    words = [w.value for block in trained_predictor()([page.image]).pages[0].blocks for line in block.lines
             for w in line.words]
    truth = shipped_truth()
    true = list(truth.pages[Path(page.name).name])
    click.echo(f"read: {' '.join(words[:SHOWN_WORDS])} ...")
    click.echo(f"true: {' '.join(true[:SHOWN_WORDS])} ...")
    found = accuracy({page.name: words}, truth)
    click.echo(f"{found.right}/{count(found.total, 'true word')} on the page read right ({found.share:.0%}): the "
               "pages hold random strings of digits and lower-case letters, what the pair was trained to read")


DEMO_FILES = ("det_epoch12.pt", "det_weights.pt", "det_weights.config.json")  # what the demo writes, in order


def run_demo(out: str | None, fmt: str, color: bool, force: bool = False) -> None:
    """Check the broken checkpoint; in text mode also repair it with `ocrdoctor fix` and check the result."""
    import tempfile

    from ..api import check_path

    with tempfile.TemporaryDirectory(prefix="ocrdoctor-demo-") as tmp:
        folder = Path(out) if out else Path(tmp)
        if out and folder.exists():  # files already in DIR are the user's: replaced only with --force
            from ..core.guard import guard

            guard([folder / name for name in DEMO_FILES], [], force=force)
        folder.mkdir(parents=True, exist_ok=True)
        if fmt == "text":
            _read_a_page()
            click.echo(f"\nWriting that detector ({DEMO_ARCH}) as training scripts save it...")
        path = write_demo_checkpoint(folder)
        if fmt == "text":
            click.echo(f"$ ocrdoctor check {path}\n")
        report = check_path(path)
        click.echo(common.rendered(report, fmt, color=color), nl=False, color=color)
        if fmt != "text":
            return
        clean = folder / DEMO_FILES[1]
        _repair(path, clean, color)
        _prove(clean, color)
        where = f"are kept in {folder}" if out else "are deleted now; pass --out DIR to keep them"
        click.echo(f"\nThe demo files {where}. Try `ocrdoctor explain OD103`.")


def _repair(path: Path, clean: Path, color: bool) -> None:
    """Show the repair proving itself: `ocrdoctor fix`, then a clean check of its output."""
    from ..api import check_path
    from ..treat.fix import fix_checkpoint

    click.echo(f"\n$ ocrdoctor fix {path} -o {clean}")
    click.echo("\n".join(r.describe() for r in fix_checkpoint(path, clean, force=True)))
    click.echo(f"\n$ ocrdoctor check {clean}\n")
    click.echo(common.rendered(check_path(clean), "text", color=color), nl=False, color=color)


def _prove(clean: Path, color: bool) -> None:
    """The repaired detector in the pair, against the pair as shipped: the same words on the sample pages."""
    from ..core.config import Settings
    from ..inspect.comparison import Tolerance
    from ..run.plan import plan_for
    from ..specimens.pair import trained_pair
    from ..treat.compare import Options
    from ..treat.sides import compare_files

    det, det_arch, reco, reco_arch = trained_pair()
    click.echo(f"\n$ ocrdoctor compare --det {det} --det-arch {det_arch} --reco {reco} --reco-arch "
               f"{reco_arch} --candidate-det {clean}\n")
    result = compare_files([], det, det_arch, reco, reco_arch, Options(det=clean), golden=None, save_golden=None,
                           tolerance=Tolerance(), plan=plan_for(Settings(), ("comparison",)))
    click.echo(common.rendered(result.report, "text", color=color), nl=False, color=color)
    click.echo(result.verdict())


@click.command()
@click.option("--out", type=click.Path(file_okay=False), help="Keep the demo checkpoint in this folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--force", is_flag=True, help="Let the demo replace its own files already in --out DIR.")
def demo(out, fmt, force) -> int:
    """The trained pair reads a page; its detector saved as a training checkpoint is checked, fixed and proven to
    read the same words."""
    from ..core.extras import require_doctr

    require_doctr("ocrdoctor demo")
    run_demo(out, fmt, color=common.use_color(), force=force)
    return common.EXIT_OK

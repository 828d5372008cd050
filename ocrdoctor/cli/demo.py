"""`ocrdoctor demo`: a realistic broken training checkpoint of a real docTR model, checked.

It is what a team's training script commonly saves: the DataParallel-wrapped model's
state_dict under "model", the AdamW and scheduler state, the epoch, the arguments, all saved
while the model sat on cuda:0.
"""

from __future__ import annotations

from pathlib import Path

import click

from . import common

DEMO_ARCH = "db_mobilenet_v3_large"


def write_demo_checkpoint(folder: Path) -> Path:
    """One real training step of a docTR detector, saved the way training scripts often do."""
    import numpy as np
    import torch
    from doctr.models import detection

    torch.manual_seed(0)
    model = torch.nn.DataParallel(detection.__dict__[DEMO_ARCH](pretrained=False, pretrained_backbone=False))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10)
    boxes = [{"words": np.array([[0.1, 0.1, 0.6, 0.3], [0.2, 0.5, 0.9, 0.7]], dtype=np.float32)}] * 2
    model(torch.rand(2, 3, 256, 256), target=boxes)["loss"].backward()
    opt.step()
    sched.step()
    ckpt = {
        "epoch": 12,
        "model": model.state_dict(),  # keys start with "module."
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "args": {"arch": DEMO_ARCH, "lr": 1e-3, "batch_size": 2},
    }
    path = folder / "det_epoch12.pt"
    from ..specimens.files import storages_tagged

    with storages_tagged("cuda:0"):
        torch.save(ckpt, path)
    return path


def run_demo(out: str | None, fmt: str, color: bool) -> None:
    """Check the broken checkpoint; in text mode also repair it with `ocrdoctor fix` and check the result."""
    from ..api import check_path
    from ..render import render

    import tempfile

    with tempfile.TemporaryDirectory(prefix="ocrdoctor-demo-") as tmp:
        folder = Path(out) if out else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        if fmt == "text":
            click.echo(f"Writing a training checkpoint of docTR's {DEMO_ARCH} (one real AdamW step)...", err=True)
        path = write_demo_checkpoint(folder)
        if fmt == "text":
            click.echo(f"$ ocrdoctor check {path}\n", err=True)
        report = check_path(path)
        click.echo(render(report, fmt, color=color), nl=False, color=color)
        if fmt != "text":
            return
        _repair(path, folder / "det_weights.pt", color)
        where = f"are kept in {folder}" if out else "are deleted now; pass --out DIR to keep them"
        click.echo(f"\nThe demo files {where}. Try `ocrdoctor explain OD103`.", err=True)


def _repair(path: Path, clean: Path, color: bool) -> None:
    """Show the repair proving itself: `ocrdoctor fix`, then a clean check of its output."""
    from ..api import check_path
    from ..render import render
    from ..treat.fix import fix_checkpoint

    click.echo(f"\n$ ocrdoctor fix {path} -o {clean}", err=True)
    click.echo("\n".join(r.describe() for r in fix_checkpoint(path, clean, force=True)))
    click.echo(f"\n$ ocrdoctor check {clean}\n", err=True)
    click.echo(render(check_path(clean), "text", color=color), nl=False, color=color)


@click.command()
@click.option("--out", type=click.Path(file_okay=False), help="Keep the demo checkpoint in this folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def demo(out, fmt) -> int:
    """Write a realistic broken docTR training checkpoint, check it and show the fixes."""
    from ..treat.build import require_doctr

    require_doctr("ocrdoctor demo")
    run_demo(out, fmt, color=common.use_color())
    return common.EXIT_OK

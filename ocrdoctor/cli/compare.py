"""`ocrdoctor compare`: does the candidate read what the base reads, on the same pages?"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..core.findings import Severity
from . import common

FILE = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.argument("pages", nargs=-1)
@click.option("--det", type=FILE, required=True, help="The base's detection checkpoint.")
@click.option("--det-arch", required=True, help="Its docTR architecture.")
@click.option("--reco", type=FILE, required=True, help="The base's recognition checkpoint.")
@click.option("--reco-arch", required=True, help="Its docTR architecture.")
@click.option("--vocab", help="The base recognizer's vocab when the file stores none: a docTR vocab's name, a file, "
                              "or the characters.")
@click.option("--candidate-vocab", help="The candidate recognizer's vocab (default: its stored one, else the base's "
                                        "when its head fits).")
@click.option("--candidate-det", type=FILE,
              help="The candidate's detector: a checkpoint or an ONNX export (default: the base's).")
@click.option("--candidate-det-arch", help="Its architecture (default: the base's).")
@click.option("--candidate-reco", type=FILE,
              help="The candidate's recognizer: a checkpoint or an ONNX export (default: the base's).")
@click.option("--candidate-reco-arch", help="Its architecture (default: the base's).")
@click.option("--candidate-dtype", type=click.Choice(["float16", "bfloat16", "float64"]),
              help="Cast the candidate predictor (the base stays float32).")
@click.option("--candidate-device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--truth", type=FILE, help="JSON of page name to its text: the base's own accuracy is shown beside "
                                        "the comparison (default: the sample pages' own, when no PAGES are given).")
@click.option("--golden", type=FILE, help="Check the deployment (--det/--reco) against this saved reading.")
@click.option("--save-golden", type=FILE, help="Write the base's reading here, for a later --golden.")
@click.option("--max-cer", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Character error rate tolerated per page.")
@click.option("--max-wer", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Word error rate tolerated per page.")
@click.option("--min-box-recall", type=click.FloatRange(0, 1), default=0.98, show_default=True,
              help="Share of word boxes each side must find of the other's (IoU 0.5).")
@click.option("--repeat", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Read each page this many times per side: from 2, each side's time per page is shown as the "
                   "median with its fastest and slowest run (1: no time is shown, one run being no measurement).")
@click.option("--format", "fmt", type=click.Choice(common.FORMATS), default="text", show_default=True)
@click.option("--html-pages", type=click.IntRange(min=0), default=20, show_default=True,
              help="With --format html: draw at most this many pages (the others are listed).")
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Write the report in --format to this file; the terminal gets the text report.")
@click.option("--force", is_flag=True, help="Let --output and --save-golden replace an existing file (never a "
                                            "model or a file the comparison reads).")
@click.option("--fail-on", type=click.Choice(["error", "warning", "info"]),
              help="Exit 1 when a finding reaches this severity.  [default: error]")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path),
              help="Read settings from this TOML file instead of the nearest pyproject.toml.")
def compare(pages, det, det_arch, reco, reco_arch, vocab, candidate_vocab, candidate_det, candidate_det_arch,
            candidate_reco, candidate_reco_arch, candidate_dtype, candidate_device, truth, golden, save_golden, max_cer,
            max_wer, min_box_recall, repeat, fmt, html_pages, output, force, fail_on, config) -> int:
    """Read PAGES (images, PDFs, folders; default: the trained pair's sample pages) with the base deployment and
    the candidate (or a golden), and compare the words and boxes page by page (OD601-OD603)."""
    from ..anatomy.halfcpu import on_this_cpu
    from ..core.extras import require_doctr

    require_doctr("ocrdoctor compare")
    from ..core.config import load_settings
    from ..inspect.comparison import Tolerance
    from ..run.plan import plan_for
    from ..treat.compare import Options
    from ..treat.sides import compare_files

    settings = load_settings(config).merged(fail_on=Severity(fail_on) if fail_on else None)
    plan = plan_for(settings, ("comparison",))
    _guard(output, save_golden, pages, (det, reco, candidate_det, candidate_reco), golden, config, settings, force)
    candidate = Options(candidate_det, candidate_det_arch, candidate_reco, candidate_reco_arch, candidate_dtype,
                        candidate_device, reco_vocab=candidate_vocab, base_vocab=vocab)
    result = compare_files(list(pages), det, det_arch, reco, reco_arch, candidate, golden=golden,
                           save_golden=save_golden, tolerance=Tolerance(max_cer, max_wer, min_box_recall),
                           plan=plan, phase=_phase if common.is_terminal(sys.stderr) else None, truth=truth,
                           repeat=repeat)
    if result.saved:
        click.echo(f"saved the base's reading to {result.saved}", err=fmt != "text")
    if result.candidate is None:  # only the golden was asked for: its reading, or an empty report to parse
        click.echo(result.verdict() if fmt == "text" else common.rendered(result.report, fmt), nl=fmt == "text")
        return common.EXIT_OK
    if fmt == "html":  # the page as a picture: the images with both sides' boxes, the words, the figures
        from ..render.picture import render_picture

        page = render_picture(result, pages=html_pages)
        if output is None:
            click.echo(page, nl=False)
            return result.report.exit_code(settings.fail_on)
        common.write_report(output, page)
        fmt = "text"
    elif output is not None:
        common.write_report(output, common.rendered(result.report, fmt, fail_on=settings.fail_on))
        fmt = "text"
    color = common.use_color() and fmt == "text"
    click.echo(common.rendered(result.report, fmt, color=color, fail_on=settings.fail_on), nl=False, color=color)
    if fmt == "text":
        click.echo(result.verdict())
        note = on_this_cpu(candidate_dtype) if candidate_dtype and candidate_device == "cpu" else None
        if note:
            click.echo(f"note: {note}")
    return result.report.exit_code(settings.fail_on)


def _guard(output, save_golden, pages, models, golden, config, settings, force: bool) -> None:
    """Before any page is read: neither the report nor the golden written may replace a model, a page, the golden
    read or the settings, and an existing file is replaced only with --force."""
    from ..core.guard import guard
    from ..run.guard import holds_model, report_output
    from ..specimens.pair import sample_pages

    reads = [Path(p) for p in pages] if pages else list(sample_pages())
    reads += [Path(p) for p in (golden, config, settings.source) if p]
    report_output(output, [m for m in models if m is not None], reads, force=force)
    if save_golden is not None:
        from ..inspect.config import files_read_by

        guard([Path(save_golden)], [*files_read_by(m for m in models if m is not None), *reads,
                                    *([Path(output)] if output else [])], force=force, protect=holds_model)


def _phase(text: str, total: int):
    """A phase on stderr (only on a terminal), a dot per page read, a new line when it is done."""
    click.echo(f"{text} ", err=True, nl=False)
    done = [0]

    def tick() -> None:
        done[0] += 1
        click.echo("." if done[0] < total else ". done", err=True, nl=done[0] >= total)

    return tick

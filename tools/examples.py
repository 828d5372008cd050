"""Regenerates the console examples of `export`, `compare`, `bench` and `demo` in README.md and docs/ from real
runs.

Each example is a console block after a marker line `<!-- example: NAME -->`: the command as shown
after `$ `, then the lines of its output the page shows. The commands run, as written, as real
processes in a work folder holding the shipped pair under the names the docs use (`det.safetensors`,
`reco.safetensors`, `pages/` with the sample pages and their `truth.json`, `reco.onnx` made by
`ocrdoctor export`). The times differ from run to run, and so do the last digits of an export's
parity (float rounding depends on threads and CPU); everything else in the lines (the fact lines)
must not: `--check` compares them with the docs, as tests/test_examples.py does in the slow lane.

    python tools/examples.py            # rewrite the blocks from a run on this machine
    python tools/examples.py --check    # exit 1 naming each block whose fact lines differ from a run
"""

from __future__ import annotations

import argparse
import difflib
import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WIDTH = 100  # a shown command longer than this is continued with `\` on the next line
MORE = "..."

PAIR = "--det det.safetensors --det-arch db_mobilenet_v3_large --reco reco.safetensors"
ARCHS = f"{PAIR} --reco-arch crnn_mobilenet_v3_small"


def sections(lines: list[str]) -> list[list[str]]:
    """The output cut at its blank lines."""
    out: list[list[str]] = [[]]
    for line in lines:
        if line:
            out[-1].append(line)
        elif out[-1]:
            out.append([])
    return [s for s in out if s]


def head_and_verdict(lines: list[str]) -> list[str]:
    """A compare run: the first page, then the verdict and the figures."""
    parts = sections(lines)
    return [*parts[0], MORE, *parts[-1]]


def section(starting: str, more: bool = False) -> Callable[[list[str]], list[str]]:
    """The section of a bench run that starts with `starting` (the first section for ""), `...` after it."""
    def keep(lines: list[str]) -> list[str]:
        [found] = [s for s in sections(lines) if s[0].startswith(starting)] if starting else [sections(lines)[0]]
        return [*found, MORE] if more else found
    return keep


def everything(lines: list[str]) -> list[str]:
    return lines


@dataclass(frozen=True)
class Example:
    name: str       # the marker's NAME
    doc: str        # the page, relative to the repository
    command: str    # after `$ `: what runs, in the work folder
    keep: Callable[[list[str]], list[str]] = everything  # the lines of the output the page shows
    shows_command: bool = True  # False: a further part of a run the page has shown the command of


EXAMPLES = (
    Example("readme-export", "README.md", "ocrdoctor export det.safetensors --arch db_mobilenet_v3_large -o det.onnx"),
    Example("readme-compare", "README.md",
            f"ocrdoctor compare pages/ {ARCHS} --candidate-reco reco.onnx --truth pages/truth.json", head_and_verdict),
    Example("compare-guide", "docs/compare.md", f"ocrdoctor compare {ARCHS} --candidate-dtype float64",
            head_and_verdict),
    Example("compare-repeat", "docs/compare.md", f"ocrdoctor compare {ARCHS} --candidate-reco reco.onnx --repeat 3",
            head_and_verdict),
    Example("readme-bench", "README.md", f"ocrdoctor bench {PAIR} --dtype float64 --train", section("", more=True)),
    Example("readme-stages", "README.md", f"ocrdoctor bench {PAIR} --dtype float64 --train",
            section("stage by stage"), shows_command=False),
    Example("readme-page-options", "README.md",
            f"ocrdoctor bench {PAIR} --straighten-pages --detect-orientation --rotated --no-read --no-onnx",
            section("page options")),
    Example("demo", "docs/demo.md", "ocrdoctor demo --out demo"),
)


# --- the work folder and the runs --------------------------------------------------------------------

def prepare(folder: Path) -> Path:
    """The files the examples name: the shipped pair, its sample pages with their truth, an ONNX export."""
    from ocrdoctor.specimens.pair import sample_pages, trained_pair

    det, _, reco, _ = trained_pair()
    for path in (det, reco):
        shutil.copy(path, folder / path.name)
    (folder / "pages").mkdir()
    for page in [*sample_pages(), sample_pages()[0].with_name("truth.json")]:
        shutil.copy(page, folder / "pages" / page.name)
    ocrdoctor(folder, "ocrdoctor export reco.safetensors --arch crnn_mobilenet_v3_small -o reco.onnx")
    return folder


def ocrdoctor(folder: Path, command: str) -> list[str]:
    """A command as written, as a real process in `folder`: its stdout's lines, with the folder of the package
    that process runs shown as `.../ocrdoctor` (it differs between machines and installs)."""
    argv = shlex.split(command)
    done = subprocess.run([sys.executable, "-m", "ocrdoctor", *argv[1:]], cwd=folder, env=_ENV, text=True,
                          capture_output=True, timeout=900)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{command} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    home = _package_home(folder)
    return [line.replace(home, ".../ocrdoctor").rstrip() for line in done.stdout.splitlines()]


_ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"}


@functools.cache
def _package_home(folder: Path) -> str:
    """Where the `ocrdoctor` that runs in `folder` lives: an installed copy in CI, the checkout in development
    (not necessarily the one this process imported)."""
    code = "import ocrdoctor, pathlib; print(pathlib.Path(ocrdoctor.__file__).resolve().parent)"
    return subprocess.run([sys.executable, "-c", code], cwd=folder, env=_ENV, text=True, capture_output=True,
                          check=True, timeout=120).stdout.strip()


class Runs:
    """Each command run once in one work folder (two examples of one bench run share it)."""

    def __init__(self, folder: Path) -> None:
        self.folder = prepare(folder)
        self._outputs: dict[str, list[str]] = {}

    def shown(self, example: Example) -> list[str]:
        if example.command not in self._outputs:
            self._outputs[example.command] = ocrdoctor(self.folder, example.command)
        return example.keep(self._outputs[example.command])


# --- the pages ----------------------------------------------------------------------------------------

def wrapped(command: str) -> list[str]:
    """`$ command`, continued with `\\` before an option (with its value) that would pass WIDTH."""
    units: list[str] = []
    for word in shlex.split(command):
        if units and not word.startswith("--") and units[-1].startswith("--") and " " not in units[-1]:
            units[-1] += " " + shlex.quote(word)  # an option's value stays with it
        else:
            units.append(shlex.quote(word))
    lines = ["$"]
    for unit in units:
        if len(lines[-1]) + 1 + len(unit) + 2 > WIDTH and unit.startswith("--"):
            lines[-1] += " \\"
            lines.append("     ")
        lines[-1] += " " + unit
    return lines


def _block(page: str, name: str) -> tuple[int, int]:
    """The start and end offsets of the text inside NAME's console block (after ```console and its newline)."""
    marker = f"<!-- example: {name} -->\n```console\n"
    start = page.find(marker)
    if start < 0:
        raise KeyError(f"no `<!-- example: {name} -->` followed by a console block")
    start += len(marker)
    return start, page.index("```", start)


def documented(example: Example) -> tuple[str, list[str]]:
    """(the command, the output lines) the page shows for an example (the example's own command when the page
    shows none for it)."""
    page = (ROOT / example.doc).read_text()
    start, end = _block(page, example.name)
    lines = page[start:end].splitlines()
    if not example.shows_command:
        return " ".join(shlex.split(example.command)), lines
    command = [lines.pop(0)]
    while command[-1].endswith("\\"):
        command.append(lines.pop(0))
    joined = " ".join(x.rstrip("\\").strip() for x in command).removeprefix("$ ")
    return " ".join(shlex.split(joined)), lines


def rewritten(page: str, example: Example, shown: list[str]) -> str:
    start, end = _block(page, example.name)
    command = wrapped(example.command) if example.shows_command else []
    return page[:start] + "\n".join([*command, *shown]) + "\n" + page[end:]


# --- fact lines: what must not change between runs ----------------------------------------------------

_LADDER_ROW = re.compile(r"^(?P<variant>.{34}) +\d+\.\d\d +\d+ +\d+-\d+ +\d+\.\d\dx[~ ]? +\d+\.\d\dx(?P<words>.*)$")
_STAGE_ROW = re.compile(r"^(?P<label>.{18})(?: +\d+){6} +\d+-\d+ +(?P<boxes>\d+\.\d)$")
_TIME = re.compile(r"\d+ ms \(\d+-\d+\)")
_CHANGE = re.compile(r"(?:\d+\.\d\dx (?:faster|slower)|no measurable difference)"
                     r" \(\d+\.\d\dx-\d+\.\d\dx over the runs\)")
_LATENCY = re.compile(r"(?:\d+ ms)|(?:\d+\.\d\dx the speed of eager|no measurable difference) \(\d+\.\d\dx-\d+\.\d\dx"
                      r" over the runs\)")
_PARITY = re.compile(r"largest difference \S+ in (\w+) \(largest value \S+;")  # float rounding: threads, CPUs
_TIMING_NOTES = ("~ no measurable change", "as given and after the fixes: no measurable difference")


def facts(lines: list[str]) -> list[str]:
    """The lines with their times taken out: a bench row keeps its variant and words, a stage row its label and
    boxes, a compare time (`352 ms (340-360)`) and its change (`1.21x faster (...)`), an export's latencies and
    the last digits of its parity are placeholders, and the notes that only say whether a time moved are
    dropped."""
    out = []
    for line in lines:
        if line.startswith(_TIMING_NOTES):
            continue
        if row := _LADDER_ROW.match(line):
            line = f"{row['variant'].rstrip()} [times] {row['words'].strip()}".rstrip()
        elif row := _STAGE_ROW.match(line):
            line = f"{row['label'].rstrip()} [times] {row['boxes']}"
        if line.startswith("latency, "):  # an export's: both latencies and their ratio
            line = _LATENCY.sub("[time]", line)
        line = _CHANGE.sub("[change]", _TIME.sub("[time]", line))
        out.append(_PARITY.sub(r"largest difference [value] in \1 (largest value [value];", line))
    return out


def differences(example: Example, shown: list[str]) -> list[str]:
    """What the page says that a run does not (the command, or a fact line), as a diff; empty when current."""
    command, lines = documented(example)
    if command != " ".join(shlex.split(example.command)):
        return [f"the page shows `{command}`, the example runs `{example.command}`"]
    return list(difflib.unified_diff(facts(lines), facts(shown), f"{example.doc} ({example.name})", "a run",
                                     lineterm="", n=1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare the fact lines; change nothing")
    parser.add_argument("names", nargs="*", help="only these examples")
    args = parser.parse_args(argv)
    chosen = [e for e in EXAMPLES if not args.names or e.name in args.names]
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ocrdoctor-examples-") as tmp:
        runs = Runs(Path(tmp))
        for example in chosen:
            shown = runs.shown(example)
            if args.check:
                diff = differences(example, shown)
                failed += bool(diff)
                print("\n".join(diff) if diff else f"{example.name}: current")
                continue
            path = ROOT / example.doc
            path.write_text(rewritten(path.read_text(), example, shown))
            print(f"{example.name}: written to {example.doc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

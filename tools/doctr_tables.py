"""Regenerate ocrdoctor/data/architectures.json from every docTR release, each in a throwaway venv.

For each release, a virtual environment is created that sees this environment's packages (torch,
torchvision: a `.pth` file) and gets `python-doctr==RELEASE` with the dependencies that release
pins (numpy < 2 before 0.10, ...); `ocrdoctor/anatomy/extract.py` then runs there as a script and
prints the release's signatures, default vocabularies and named vocabularies. The releases are
merged without duplicates (see ocrdoctor.anatomy.architectures.merge) and written as data.

    python tools/doctr_tables.py [--releases 0.7.0 ... 1.1.0] [--keep DIR]

Minutes per release (a venv, pip, building every model); needs the package registry.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASES = ["0.7.0", "0.8.0", "0.8.1", "0.9.0", "0.10.0", "0.11.0", "0.12.0", "1.0.0", "1.0.1", "1.1.0"]
# What a release needs but does not pin (huggingface_hub 1.0 removed HfFolder, which 0.7 imports).
EXTRA = {"0.7.0": ["huggingface-hub<1.0"]}


def extract(release: str, work: Path) -> dict:
    venv = work / f"doctr-{release}"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "_base_environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"python-doctr=={release}", *EXTRA.get(release, [])],
                   check=True)
    env = {**os.environ, "USE_TORCH": "1", "USE_TF": "0"}
    # -I: the script's folder must not shadow the stdlib (ocrdoctor/ holds a package named `inspect`)
    out = subprocess.run([str(python), "-I", "-W", "ignore", str(ROOT / "ocrdoctor" / "anatomy" / "extract.py")],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--releases", nargs="+", default=RELEASES)
    parser.add_argument("--keep", type=Path, help="keep each release's raw JSON in this folder")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from ocrdoctor.anatomy.architectures import dumps, merge

    with tempfile.TemporaryDirectory() as tmp:
        raw = []
        for release in args.releases:
            cached = args.keep / f"{release}.json" if args.keep else None
            if cached and cached.exists():
                raw.append(json.loads(cached.read_text()))
                continue
            print(f"docTR {release} ...", file=sys.stderr)
            data = extract(release, Path(tmp))
            raw.append(data)
            if cached:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps(data, ensure_ascii=False))
    (ROOT / "ocrdoctor" / "data" / "architectures.json").write_text(dumps(merge(raw)))


if __name__ == "__main__":
    main()

"""A doctor must not change the patient: checking needs neither torch nor docTR, the commands that
do say which extra to install, and installing ocrdoctor beside a deployment's torch and docTR
changes neither (a pip dry-run into a virtual environment holding another torch and docTR)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import torchfile as tf

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "doctr", "torchvision", "onnx", "onnxruntime", "onnxtr", "safetensors")

# Runs the CLI with torch, torchvision and docTR made unimportable, as in a deployment without the extra.
_WITHOUT_DOCTR = """
import sys
for name in ("torch", "torchvision", "doctr"):
    sys.modules[name] = None
from ocrdoctor.cli import main
sys.argv = ["ocrdoctor", *sys.argv[1:]]
main()
"""


def _without_doctr(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WITHOUT_DOCTR, *map(str, args)], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def det(tmp_path):
    from ocrdoctor.anatomy.architectures import signatures

    shapes = next(s.keys for s in signatures() if s.arch == "db_mobilenet_v3_large")
    return tf.save_zip(tmp_path / "det.pt", tf.trained(shapes))


# What a plain check has no use for: the other kinds' inspectors, the renderers it does not print with, and
# importlib.metadata (20-40 ms: versions and plugins are found from the path's dist-info folders).
UNNEEDED = ("ocrdoctor.inspect.environment", "ocrdoctor.inspect.model", "ocrdoctor.render.sarif",
            "ocrdoctor.render.html", "importlib.metadata", "psutil", "pynvml")


def test_a_plain_check_imports_nothing_heavy(det):
    code = ("import sys; from ocrdoctor.cli import main; sys.argv = ['ocrdoctor', 'check', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY + UNNEEDED!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, str(det)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "db_mobilenet_v3_large (detection, docTR 0.7.0-1.1.0)" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "[]"


@pytest.mark.parametrize("args", [
    ("fix", "{det}", "-o", "{out}"),
    ("export", "{det}", "--arch", "db_mobilenet_v3_large", "-o", "{out}"),
    ("bench",),
    ("demo",),
    ("check", "--det", "{det}", "--det-arch", "db_mobilenet_v3_large", "--reco", "{det}", "--reco-arch",
     "crnn_vgg16_bn"),
])
def test_commands_that_build_models_name_the_extra(args, det, tmp_path):
    proc = _without_doctr(*(a.format(det=det, out=tmp_path / "out.pt") for a in args))
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert line.startswith("ocrdoctor: error: ") and line.endswith('pip install "ocrdoctor[doctr]"'), line
    assert not (tmp_path / "out.pt").exists()


def test_check_arch_without_docTR_compares_signatures_and_skips_model_rules(det):
    """The file is checked against the signature table; the model asked for cannot be built without docTR: OD126
    (exit 1, was 0 before 0.5.0), naming the extra."""
    proc = _without_doctr("check", det, "--arch", "db_mobilenet_v3_large", "-v", "--format", "json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    checkpoint, model = data["targets"]
    assert checkpoint["facts"]["checked_against"] == "db_mobilenet_v3_large"
    assert [(f["rule"], f["target"]) for f in data["findings"]] == [("OD126", model["target"])]
    assert 'pip install "ocrdoctor[doctr]"' in data["findings"][0]["message"]
    assert model["status"] == "not_built"
    assert model["skipped"] and all("needs torch and docTR" in s["reason"] for s in model["skipped"])
    wrong = _without_doctr("check", det, "--arch", "crnn_vgg16_bn")
    assert wrong.returncode == 1 and "OD113" in wrong.stdout


def test_diagnose_without_torch_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\nimport ocrdoctor\n"
            "try:\n    ocrdoctor.diagnose(object())\nexcept Exception as exc:\n    print(type(exc).__name__, exc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == 'MissingExtra ocrdoctor.diagnose needs torch: pip install "ocrdoctor[doctr]"'


def _stub(site: Path, name: str, version: str) -> None:
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "RECORD").write_text("")


@pytest.mark.parametrize("deployment", [
    {"torch": "2.5.1", "torchvision": "0.20.1", "python-doctr": "0.10.0", "numpy": "1.26.4"},
    {"torch": "2.13.0", "torchvision": "0.28.0", "python-doctr": "1.0.1", "numpy": "2.1.3"},
], ids=["torch-2.5-doctr-0.10", "torch-2.13-doctr-1.0"])
@pytest.mark.slow
def test_installing_ocrdoctor_changes_neither_torch_nor_docTR(deployment, tmp_path):
    """pip --dry-run --report into a venv whose site-packages says torch and docTR are installed."""
    wheels = tmp_path / "wheels"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull  # no machine-wide constraints: the ranges alone decide
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True, env=env, timeout=300)
    assert build.returncode == 0, build.stderr
    import zipfile

    shipped = zipfile.ZipFile(next(wheels.glob("ocrdoctor-*.whl"))).namelist()
    pair = [n for n in shipped if n.startswith("ocrdoctor/data/pair/")]
    assert {"ocrdoctor/data/pair/det.safetensors", "ocrdoctor/data/pair/reco.safetensors",
            "ocrdoctor/data/pair/held_out.json", "ocrdoctor/data/pair/samples/truth.json"} <= set(pair)
    venv = tmp_path / "deployment"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = next((venv / "lib").glob("python*/site-packages"))
    installed = {**deployment, "click": "8.1.7", "psutil": "5.9.8", "nvidia-ml-py": "12.560.30", "safetensors": "0.4.5",
                 "tomli": "2.0.1", "rapidfuzz": "3.9.0"}  # docTR itself needs rapidfuzz
    for name, version in installed.items():
        _stub(site, name, version)
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "--dry-run", "--no-index", "--find-links", str(wheels), "--report", str(report), "-q",
                           "ocrdoctor[doctr]"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    to_install = {item["metadata"]["name"] for item in json.loads(report.read_text())["install"]}
    assert to_install == {"ocrdoctor"}

"""Every command on every odd target ends in a clear line and the right exit code: never a hang (30 s each), an
"internal error" or a traceback. Odd targets: a folder, a FIFO, a JPEG named .pt, a foreign ONNX graph, a foreign
checkpoint, a URL whose protocol's extra is missing, and, as an unprivileged user, an unreadable file and folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest

from tests import torchfile as tf

pytestmark = pytest.mark.slow  # every command, several of them building models, on every target
pytest.importorskip("torch")
pytest.importorskip("doctr")

RECO = "crnn_mobilenet_v3_small"
LIMIT = 30  # seconds one command may take on one odd target


def commands(target: str, out: Path) -> dict[str, list[str]]:
    from ocrdoctor.specimens.pair import trained_pair

    det, det_arch, reco, reco_arch = map(str, trained_pair())
    return {
        "check": ["check", target],
        "check --arch": ["check", target, "--arch", RECO],
        "check --reco": ["check", "--reco", target, "--reco-arch", RECO],
        "fix": ["fix", target, "-o", str(out / "fixed.pt")],
        "export": ["export", target, "--arch", RECO, "-o", str(out / "exported.onnx"), "--repeat", "1"],
        "bench": ["bench", "--reco", target, "--reco-arch", RECO, "--repeat", "1", "--words", "2", "--no-onnx",
                  "--no-read", "--pages", "1"],
        "compare": ["compare", "--det", det, "--det-arch", det_arch, "--reco", reco, "--reco-arch", reco_arch,
                    "--candidate-reco", target],
    }


def odd_targets(folder: Path) -> dict[str, str]:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    (folder / "a-folder").mkdir()
    os.mkfifo(folder / "a-fifo.pt")
    (folder / "photo.pt").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64)
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "other-ocr",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "other.onnx"))
    tf.save_zip(folder / "foreign.pth", {"module.FeatureExtraction.ConvNet.0.weight": np.ones((4, 1, 3, 3), "f4"),
                                         "module.Prediction.weight": np.ones((97, 4), "f4")})
    return {name: str(folder / name) for name in ("a-folder", "a-fifo.pt", "photo.pt", "other.onnx", "foreign.pth")}


def invoke(args: list[str], env: dict | None = None) -> dict:
    """One command in this process (click's runner) under a watchdog: exit code, stderr, and whether it hung."""
    from click.testing import CliRunner

    from ocrdoctor.cli.common import cli

    done: dict = {}

    def target() -> None:
        result = CliRunner().invoke(cli, args, env=env)
        done.update(code=result.exit_code, out=result.stdout, err=result.stderr,
                    exc=repr(result.exception) if result.exception and not isinstance(result.exception, SystemExit)
                    else None)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(LIMIT)
    return done if done else {"code": None, "hung": True}


def failures(args: list[str], outcome: dict) -> list[str]:
    if outcome.get("hung"):
        return [f"{args}: still running after {LIMIT} s"]
    text = (outcome.get("out") or "") + (outcome.get("err") or "")
    wrong = []
    if outcome["code"] not in (0, 1, 2):
        wrong.append(f"{args}: exit {outcome['code']} ({outcome.get('exc')})")
    if "internal error" in text or "Traceback" in text:
        wrong.append(f"{args}: {text.strip().splitlines()[-1]}")
    if outcome["code"] == 2 and len((outcome.get("err") or "").strip().splitlines()) != 1:
        wrong.append(f"{args}: a refusal of more than one line: {outcome.get('err')!r}")
    return wrong


def test_every_command_on_every_odd_target(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    wrong = []
    for target in odd_targets(tmp_path).values():
        for args in commands(target, out).values():
            wrong += failures(args, invoke(args))
        for leftover in out.iterdir():  # nothing half-written survives a refused or failed command
            leftover.unlink()
    assert wrong == []


def test_a_url_without_its_extra_is_one_line_for_every_protocol(tmp_path):
    """fsspec present without aiohttp (torch pulls fsspec in), or no fsspec at all: the install hint, exit 2."""
    code = textwrap.dedent("""
        import json, sys
        block = sys.argv[1]
        for name in block.split(","):
            sys.modules[name] = None  # as if not installed
        from click.testing import CliRunner
        from ocrdoctor.cli.common import cli
        rows = []
        for url in ("https://127.0.0.1:9/det.pt", "s3://bucket/det.pt", "gs://bucket/det.pt", "hf://org/repo/det.pt"):
            result = CliRunner().invoke(cli, ["check", url])
            rows.append([url, result.exit_code, result.stderr])
        print(json.dumps(rows))
    """)
    for blocked in ("aiohttp,s3fs,gcsfs,huggingface_hub", "fsspec"):
        proc = subprocess.run([sys.executable, "-c", code, blocked], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        for url, exit_code, stderr in json.loads(proc.stdout):
            assert exit_code == 2 and "pip install 'ocrdoctor[remote]'" in stderr, (blocked, url, stderr)
            assert len(stderr.strip().splitlines()) == 1 and "internal error" not in stderr


_AS_NOBODY = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, sys.argv[1])
    import click.testing, torch, doctr.models, onnxruntime  # noqa: F401  imported while root: closed to nobody
    import concurrent.futures, pickletools, tarfile, tempfile, tomllib, zipfile  # noqa: F401  lazy stdlib imports
    from tests import test_sweep as sweep
    from ocrdoctor.specimens.pair import trained_pair
    import ocrdoctor.api, ocrdoctor.treat.fix, ocrdoctor.treat.export, ocrdoctor.treat.bench, ocrdoctor.treat.sides
    import importlib, pkgutil, ocrdoctor
    for module in pkgutil.walk_packages(ocrdoctor.__path__, "ocrdoctor."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    trained_pair()
    targets, out = json.loads(sys.argv[2]), sys.argv[3]
    os.setgid(65534)
    os.setuid(65534)
    wrong = []
    from pathlib import Path
    for target in targets:
        for args in sweep.commands(target, Path(out)).values():
            wrong += sweep.failures(args, sweep.invoke(args))
    print(json.dumps(wrong))
""")


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to an unprivileged user: needs root")
def test_unreadable_files_and_folders_as_an_unprivileged_user():
    folder = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is closed to other users
    try:
        os.chmod(folder, 0o755)
        locked_file = tf.save_zip(folder / "locked.pt", {"w": __import__("numpy").ones(4, "f4")})
        locked_file.chmod(0o600)
        locked_folder = folder / "locked"
        locked_folder.mkdir(mode=0o700)
        tf.save_zip(locked_folder / "inside.pt", {"w": __import__("numpy").ones(4, "f4")})
        out = folder / "out"
        out.mkdir(mode=0o777)
        out.chmod(0o777)
        root = str(Path(__file__).resolve().parents[1])
        proc = subprocess.run([sys.executable, "-c", _AS_NOBODY, root, json.dumps([str(locked_file),
                                                                                   str(locked_folder)]), str(out)],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    finally:
        import shutil

        shutil.rmtree(folder)

"""Plugins through the real `ocrdoctor.checks` entry-point machinery, in fresh processes.

Each test puts a distribution (a *.dist-info with entry_points.txt) on PYTHONPATH, which is
exactly what `pip install` leaves behind, so importlib.metadata discovers it as installed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the examples write real torch.save files

from ocrdoctor.checks import examples as ex
from tests.conftest import run_process

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ocrdoctor-plugin-example"


def _distribution(site: Path, name: str, entry_points: dict[str, str]) -> None:
    info = site / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[ocrdoctor.checks]\n{lines}\n")


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    return site


def _env(*paths: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, paths)), "NO_COLOR": "1"}
    env.pop("OCRDOCTOR_DISABLE_PLUGIN_AUTOLOAD")  # set by conftest for the built-in tests
    return env


@pytest.fixture
def reco_without_vocab(save):
    return save({"model": ex.doctr_state_dict("crnn_mobilenet_v3_small", vocab="0123456789")}, "reco.pt")


@pytest.mark.slow
def test_example_plugin_runs_like_a_builtin_rule(site, reco_without_vocab):
    _distribution(site, "ocrdoctor-plugin-example", {"example": "ocrdoctor_plugin_example"})
    env = _env(site, EXAMPLE)
    rules = run_process("rules", env=env)
    row = next(line for line in rules.stdout.splitlines() if line.startswith("EXA100"))
    assert row.split()[:4] == ["EXA100", "recognizer-without-vocab", "warning", "checkpoint"]
    data = json.loads(run_process("check", reco_without_vocab, "--format", "json", env=env).stdout)
    assert {f["rule"] for f in data["findings"]} == {"EXA100", "OD104", "OD117"}  # OD117: a head of 10, no vocab
    selected = json.loads(run_process("check", reco_without_vocab, "--format", "json", "--select", "EXA",
                                      env=env).stdout)
    assert [f["rule"] for f in selected["findings"]] == ["EXA100"]
    ignored = json.loads(run_process("check", reco_without_vocab, "--format", "json", "--ignore", "EXA100",
                                     env=env).stdout)
    assert "EXA100" not in {f["rule"] for f in ignored["findings"]}
    page = run_process("explain", "EXA100", env=env)
    assert page.returncode == 0 and "## Why it matters" in page.stdout


@pytest.mark.slow
def test_example_plugin_rule_examples(site, tmp_path):
    """The plugin's own good and bad examples, through the same machinery as the built-ins."""
    _distribution(site, "ocrdoctor-plugin-example", {"example": "ocrdoctor_plugin_example"})
    code = (
        "from pathlib import Path\n"
        "from ocrdoctor.api import check_file\n"
        "from ocrdoctor.core.registry import default\n"
        "rule = default.load().rules['EXA100']\n"
        "rules = default.sorted_rules('checkpoint')\n"
        f"tmp = Path({str(tmp_path)!r})\n"
        "for kind in ('bad', 'good'):\n"
        "    for e in getattr(rule, kind):\n"
        "        p = tmp / f'{kind}-{e.label}.pt'; e.write(p)\n"
        "        fired = any(f.rule == 'EXA100' for f in check_file(p, rules).findings)\n"
        "        assert fired == (kind == 'bad'), (kind, e.label)\n"
        "print('ok', rule.origin)\n"
    )
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], env=_env(site, EXAMPLE), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok ocrdoctor_plugin_example"


def test_broken_plugin_is_reported_by_name_and_the_run_goes_on(site, tmp_path, save):
    _distribution(site, "broken-plugin", {"broken": "odplugin_missing_module"})
    path = save({"model": ex.tiny_state_dict()})
    result = run_process("check", path, env=_env(site))
    assert result.returncode == 0
    assert "plugin error: broken: ModuleNotFoundError: No module named 'odplugin_missing_module'" in result.stdout
    assert "OD104" in result.stdout
    data = json.loads(run_process("check", path, "--format", "json", env=_env(site)).stdout)
    assert data["errors"] == [{"rule": "plugin", "name": "broken", "target": "<plugins>",
                               "error": "ModuleNotFoundError: No module named 'odplugin_missing_module'"}]


def test_autoload_can_be_disabled(site, save):
    _distribution(site, "broken-plugin", {"broken": "odplugin_missing_module"})
    env = {**_env(site), "OCRDOCTOR_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = run_process("check", save({"model": ex.tiny_state_dict()}), env=env)
    assert result.returncode == 0 and "plugin error" not in result.stdout


def test_crashing_plugin_check_is_a_check_error_not_a_failed_run(site, tmp_path, save):
    module = tmp_path / "mods"
    module.mkdir()
    (module / "odplugin_crashes.py").write_text('''
import ocrdoctor

@ocrdoctor.check("CRA100", "always-crashes", ocrdoctor.Severity.ERROR, "checkpoint")
def always_crashes(facts):
    """Crashes on purpose.

    What it detects:
        Nothing.
    Why it matters:
        It tests that a crash is contained.
    Fix:
        None.
    Example:
        Any file.
    """
    raise RuntimeError("plugin bug")
''')
    _distribution(site, "crash-plugin", {"crashes": "odplugin_crashes"})
    path = save({"model": ex.tiny_state_dict()})
    result = run_process("check", path, "--format", "json", env=_env(site, module))
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["targets"][0]["errors"] == [{"rule": "CRA100", "name": "always-crashes", "target": str(path),
                                             "error": "RuntimeError: plugin bug"}]
    assert "OD104" in {f["rule"] for f in data["findings"]}


def test_plugin_reusing_a_builtin_code_is_refused(site, tmp_path, save):
    module = tmp_path / "mods"
    module.mkdir()
    (module / "odplugin_dupe.py").write_text(
        "import ocrdoctor\n"
        "@ocrdoctor.check('OD103', 'my-own', ocrdoctor.Severity.ERROR, 'checkpoint')\n"
        "def mine(facts):\n"
        "    '''x\n\n    What it detects:\n        a\n    Why it matters:\n        b\n    Fix:\n        c\n    "
        "Example:\n        d\n    '''\n"
        "    return []\n"
    )
    _distribution(site, "dupe-plugin", {"dupe": "odplugin_dupe"})
    result = run_process("check", save(ex.tiny_state_dict()), env=_env(site, module))
    assert ("plugin error: dupe: RegistryError: rule OD103 (odplugin_dupe): code OD103 is already used by "
            "training-state") in result.stdout

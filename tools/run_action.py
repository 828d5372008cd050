"""Run this repository's composite GitHub Action (action.yml) here, without GitHub: its `run:` steps
in bash, as a runner would, with the inputs given; `uses:` steps are not run (no network), but what
they would be handed is checked (the SARIF upload's file exists and is SARIF 2.1.0).

    python tools/run_action.py action.yml --input package=dist/ocrdoctor-0.6.0-py3-none-any.whl \\
        --input paths=models/ [--skip "Install ocrdoctor"] [--runner-temp DIR]

Exits with the job's exit code: the first failing step's, else 0. .ci/run uses it to test the
action with a locally built wheel; tests/test_adoption.py runs the check and gate steps.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", type=Path)
    parser.add_argument("--input", action="append", default=[], help="NAME=VALUE")
    parser.add_argument("--skip", action="append", default=[], help="the name of a step not to run")
    parser.add_argument("--runner-temp", type=Path)
    args = parser.parse_args()
    action = yaml.safe_load(args.action.read_text())
    inputs = {name: str(spec.get("default", "")) for name, spec in action.get("inputs", {}).items()}
    for item in args.input:
        name, _, value = item.partition("=")
        if name not in inputs:
            parser.error(f"the action has no input {name!r} (it has {', '.join(inputs)})")
        inputs[name] = value
    temp = args.runner_temp or Path(tempfile.mkdtemp(prefix="ocrdoctor-action-"))
    context = {"inputs": inputs, "github": {"action_path": str(args.action.resolve().parent)}, "steps": {}}
    for step in action["runs"]["steps"]:
        name = step.get("name", step.get("uses", "step"))
        if name in args.skip:
            print(f"== {name}: skipped", flush=True)
            continue
        code = _uses(step, context) if "uses" in step else _run(step, context, temp)
        if code:
            print(f"== {name}: exit {code}", flush=True)
            return code
    return 0


def _value(expression: str, context: dict) -> str:
    node: object = context
    for part in expression.split("."):
        node = node.get(part, "") if isinstance(node, dict) else ""
    return str(node)


def _substitute(text: str, context: dict) -> str:
    return EXPRESSION.sub(lambda m: _value(m.group(1), context), str(text))


def _run(step: dict, context: dict, temp: Path) -> int:
    print(f"== {step.get('name', 'run')}", flush=True)
    output = temp / f"output-{len(context['steps'])}"
    output.write_text("")
    env = {**os.environ, "RUNNER_TEMP": str(temp), "GITHUB_OUTPUT": str(output),
           **{k: _substitute(v, context) for k, v in step.get("env", {}).items()}}
    script = temp / "step.sh"
    script.write_text(_substitute(step["run"], context))
    code = subprocess.call(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], env=env)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    if "id" in step:
        context["steps"][step["id"]] = {"outputs": outputs}
    return code


def _uses(step: dict, context: dict) -> int:
    """Not run offline: the SARIF upload is checked to have a complete SARIF file to send."""
    name = step["uses"]
    if not name.startswith("github/codeql-action/upload-sarif@"):
        print(f"== {name}: not run offline", flush=True)
        return 0
    path = Path(_substitute(step["with"]["sarif_file"], context))
    try:
        log = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        print(f"== {name}: no SARIF to upload: {exc}", flush=True)
        return 1
    results = sum(len(run["results"]) for run in log["runs"])
    print(f"== {name}: would upload {path} (SARIF {log['version']}, {results} results)", flush=True)
    return 0 if log["version"] == "2.1.0" else 1


if __name__ == "__main__":
    sys.exit(main())

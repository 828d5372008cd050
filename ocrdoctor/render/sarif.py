"""SARIF 2.1.0 for GitHub code scanning and other SARIF consumers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import quote

from ..core.findings import Finding, Report, Severity
from ..core.registry import default
from ..read.remote import is_url, redact

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
DOCS_URL = "https://github.com/ocrdoctor/ocrdoctor/blob/main/docs/rules.md"
LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def artifact_uri(target: str) -> str:
    """A relative, percent-encoded URI when the target is under the working directory; a remote target's URL
    as reports show it (no credentials, no query string)."""
    if is_url(target):
        return redact(target)
    path = Path(target)
    try:
        path = path.resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        pass
    return quote(path.as_posix())


def _rule_entry(rule) -> dict:
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": rule.docs["What it detects"]},
        "help": {"text": rule.explain(), "markdown": rule.explain()},
        "helpUri": f"{DOCS_URL}#{rule.code.lower()}",
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
        "properties": {"tags": list(rule.kinds), "origin": rule.origin},
    }


def _result(f: Finding, index: dict[str, int]) -> dict:
    text = f.message + (f"\nFix ({f.applicability.value if f.applicability else 'manual'}): {f.fix}" if f.fix else "")
    result = {
        "ruleId": f.rule,
        "level": LEVELS[f.severity],
        "message": {"text": text},
        "locations": [{
            "physicalLocation": {"artifactLocation": {"uri": artifact_uri(f.target)}, "region": {"startLine": 1}},
            **({"logicalLocations": _logical(f)} if f.location or f.member else {}),
        }],
        "partialFingerprints": {
            "ocrdoctor/v1": hashlib.sha256(f"{f.rule}|{f.target}|{f.member}|{f.location}".encode()).hexdigest()
        },
        "properties": {"severity": f.severity.value, "fix": f.fix, "command": f.command, "member": f.member,
                       "applicability": f.applicability.value if f.applicability else None},
    }
    if f.rule in index:
        result["ruleIndex"] = index[f.rule]
    return result


def _logical(f: Finding) -> list[dict]:
    """The model inside the file (a module), then the place inside it the finding names."""
    locations = [{"name": f.member, "kind": "module", "fullyQualifiedName": f.member}] if f.member else []
    if f.location:
        locations.append({"name": f.location,
                          **({"fullyQualifiedName": f"{f.member}/{f.location}"} if f.member else {})})
    return locations


def render_sarif(report: Report) -> str:
    from ..core.version import package_version

    registered = default.load().rules
    ran = {code for t in report.targets for code, _ in t.rules} | {f.rule for f in report.findings}
    rules = [registered[code] for code in sorted(ran) if code in registered]
    index = {r.code: i for i, r in enumerate(rules)}
    notifications = [
        {"level": "error", "message": {"text": f"{e.rule} {e.name} failed on {e.target}: {e.error}"}}
        for e in report.check_errors
    ]
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "ocrdoctor", "version": package_version(), "informationUri": DOCS_URL,
                "rules": [_rule_entry(r) for r in rules],
            }},
            "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
            "results": [_result(f, index) for f in report.findings],
        }],
    }
    return json.dumps(log, indent=2) + "\n"

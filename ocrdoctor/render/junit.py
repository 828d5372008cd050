"""JUnit XML: one test case per target and rule, for GitLab, Jenkins and other CI test views.

A finding at or above `fail_on` is a <failure>; one below it passes with the finding in
<system-out>; a skipped rule is <skipped>; a crashed rule is an <error>.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..core.findings import Report, Severity, TargetResult


def _case(target: TargetResult, code: str, name: str, fail_on: Severity) -> ET.Element:
    case = ET.Element("testcase", classname=target.target, name=f"{code} {name}", time="0")
    findings = [f for f in target.findings if f.rule == code]
    failing = [f for f in findings if f.severity >= fail_on]
    skipped = [s for s in target.skipped if s.rule == code]
    errors = [e for e in target.errors if e.rule == code]
    if errors:
        ET.SubElement(case, "error", message=errors[0].error, type="check-error").text = errors[0].error
    elif failing:
        worst = max(failing, key=lambda f: f.severity.rank)
        failure = ET.SubElement(case, "failure", message=worst.message, type=worst.severity.value)
        failure.text = "\n\n".join(_describe(f) for f in failing)
    elif skipped:
        ET.SubElement(case, "skipped", message=skipped[0].reason)
    if findings and not failing:
        ET.SubElement(case, "system-out").text = "\n\n".join(_describe(f) for f in findings)
    return case


def _describe(f) -> str:
    lines = [f"{f.rule} {f.severity.value} {f.name}{f' [{f.member}]' if f.member else ''}: {f.message}"]
    if f.location:
        lines.append(f"at: {f.location}")
    if f.fix:
        lines.append(f"fix ({f.applicability.value if f.applicability else 'advice'}): {f.fix}")
    return "\n".join(lines)


def render_junit(report: Report, fail_on: Severity = Severity.ERROR) -> str:
    suites = ET.Element("testsuites", name="ocrdoctor")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for target in report.targets:
        cases = [_case(target, code, name, fail_on) for code, name in target.rules]
        counts = {
            "tests": len(cases),
            "failures": sum(c.find("failure") is not None for c in cases),
            "errors": sum(c.find("error") is not None for c in cases),
            "skipped": sum(c.find("skipped") is not None for c in cases),
        }
        suite = ET.SubElement(suites, "testsuite", name=target.target, time=f"{target.seconds:.3f}",
                              **{k: str(v) for k, v in counts.items()})
        suite.extend(cases)
        for key in totals:
            totals[key] += counts[key]
    for key, value in totals.items():
        suites.set(key, str(value))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"

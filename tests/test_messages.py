"""Messages read right: every count goes through core.units.count() ("1 file", "2 files", "0 files"), and no
f-string in the package writes `{len(x)} words` by hand (it would print "1 words")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from ocrdoctor.core.units import count

PACKAGE = Path(__file__).resolve().parent.parent / "ocrdoctor"
NOT_NOUNS = {"of", "unexpected"}  # "{len(x)} of 12 layers", "3 missing, {len(x)} unexpected": no noun to agree


@pytest.mark.parametrize(("n", "expected"), [(0, "0 files"), (1, "1 file"), (2, "2 files")])
def test_count_agrees_with_its_number(n, expected):
    assert count(n, "file") == expected


@pytest.mark.parametrize(("n", "expected"), [(0, "0 boxes"), (1, "1 box"), (2, "2 boxes")])
def test_count_takes_an_irregular_plural(n, expected):
    assert count(n, "box", "boxes") == expected


def _hand_counts(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.JoinedStr):
            continue
        for value, after in zip(node.values, node.values[1:], strict=False):
            if (isinstance(value, ast.FormattedValue) and isinstance(value.value, ast.Call)
                    and isinstance(value.value.func, ast.Name) and value.value.func.id == "len"
                    and isinstance(after, ast.Constant) and isinstance(after.value, str)):
                word = re.match(r" ([a-z]+)", after.value)
                if word and word.group(1) not in NOT_NOUNS:
                    found.append(f"line {node.lineno}: {{len(...)}}{after.value[:20]!r}")
    return found


def test_the_ast_check_finds_a_count_written_by_hand():
    assert _hand_counts('x = f"{len(words)} words read"') == ["line 1: {len(...)}' words read'"]
    assert _hand_counts('x = f"{count(len(words), \'word\')} read"') == []
    assert _hand_counts('x = f"{len(fresh)} of 12"') == []


def test_no_message_counts_by_hand():
    bad = [f"{path.relative_to(PACKAGE)} {hit}" for path in sorted(PACKAGE.rglob("*.py"))
           for hit in _hand_counts(path.read_text(encoding="utf-8"))]
    assert not bad, "use core.units.count(): " + "; ".join(bad)


_AS_NOBODY = """
import json, os, sys
from click.testing import CliRunner
from ocrdoctor.cli import cli
import ocrdoctor.cli.check, ocrdoctor.run.named, ocrdoctor.read.describe, pwd, tomllib  # noqa: F401
for path in sys.argv[1:]:  # as root first: every module a check imports lazily is imported while it can be read
    CliRunner().invoke(cli, ["check", path, "--format", "json"])
os.setgid(65534)
os.setuid(65534)
rows = []
for path in sys.argv[1:]:
    result = CliRunner().invoke(cli, ["check", path, "--format", "json"])
    rows.append([result.exit_code, result.stdout, result.stderr])
print(json.dumps(rows))
"""


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() != 0,
                    reason="drops to an unprivileged user: needs root")
def test_unreadable_folders_are_named_with_the_permission_and_the_user(tmp_path):
    import json
    import os
    import subprocess
    import sys
    import tempfile

    top = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        os.chmod(top, 0o755)
        closed = top / "closed"
        closed.mkdir(mode=0o700)
        (closed / "model.pt").write_bytes(b"x")
        mixed = top / "mixed"
        (mixed / "private").mkdir(parents=True)
        os.chmod(mixed, 0o755)
        os.chmod(mixed / "private", 0o700)
        proc = subprocess.run([sys.executable, "-c", _AS_NOBODY, str(closed), str(mixed)], capture_output=True,
                              text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
        assert proc.returncode == 0, proc.stderr
        (code, _, err), (code2, _, err2) = json.loads(proc.stdout)
        assert code == 2 and f"cannot read the folder {closed}: permission denied (mode 0700, owner root; " \
                              "running as nobody)" in err
        assert code2 == 2 and "(1 file skipped)" in err2  # the only folder inside is named, not silently missed
    finally:
        subprocess.run(["rm", "-rf", str(top)], check=False)


def test_a_symlink_loop_is_a_loop_and_a_jpeg_is_a_jpeg(tmp_path):
    from conftest import run

    loop = tmp_path / "loop.pt"
    loop.symlink_to(tmp_path / "loop.pt")
    result = run("check", loop)
    assert result.exit_code == 2 and "a link that loops" in result.stderr and "dangling" not in result.stderr
    photo = tmp_path / "photo.pt"
    photo.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64))
    result = run("check", photo, "--format", "concise")
    assert result.exit_code == 1 and "a JPEG image, not a checkpoint" in result.stdout
    (tmp_path / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    result = run("check", tmp_path, "-v")
    assert "a PNG image, not a checkpoint" in result.stdout + result.stderr


def test_rules_archs_has_a_header_for_every_column_and_stays_aligned():
    from ocrdoctor.render.rulesdoc import render_archs

    header, *rows = render_archs().splitlines()[1:]
    starts = [header.index(name) for name in ("architecture", "task", "forms", "releases", "default head")]
    for row in rows:
        cells = [row[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
        assert all(row[s - 1] == " " for s in starts[1:] if s <= len(row)), row  # no cell runs into the next
        assert cells[0] and cells[1] in ("recognition", "detection", "classification") and cells[3], row


def test_the_notebook_table_has_each_targets_header_a_fix_in_every_row_and_the_machine():
    pytest.importorskip("doctr")
    import re as re_

    import ocrdoctor
    from ocrdoctor.checks import examples as ex

    report = ocrdoctor.diagnose(ex.ocr_predictor(trained=False))  # OD210: no automatic fix
    html = report._repr_html_()
    rows = re_.findall(r"<tr><td style='color.*?</tr>", html)
    assert rows and len(rows) == len(report.findings)
    assert all(re_.search(r"<td>(<pre|<small>no automatic fix)", row) for row in rows)
    headers = re_.findall(r"<th colspan='5'[^>]*>(.*?)</th>", html)
    assert [h.split("<small>")[0].split("  (")[0] for h in headers] == [t.target for t in report.targets]
    assert any(t.kind == "environment" for t in report.targets)
    assert "no automatic fix: <code>ocrdoctor explain OD210</code>" in html

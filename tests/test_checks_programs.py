"""The load a fix prints fits the installed torch: the names it allows, by the API that torch has."""

from __future__ import annotations

import pytest

from ocrdoctor.checks.programs import safe_globals_load

NAMES = ["argparse.Namespace", "numpy.core.multiarray._reconstruct"]
SOURCE = "runs/it's \\ café.pt"


def test_a_program_defines_path_first_whatever_the_file_is_called():
    program = safe_globals_load(SOURCE, NAMES, {"torch": "2.6.0", "numpy": "2.1.0"})
    namespace: dict = {}
    exec(program.splitlines()[0], namespace)
    assert namespace["path"] == SOURCE


def test_torch_2_6_allows_names_in_a_context_with_numpy_2_spelled_as_saved():
    program = safe_globals_load(SOURCE, NAMES, {"torch": "2.6.0", "numpy": "2.1.0"})
    assert "with torch.serialization.safe_globals([" in program
    assert '(numpy._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),' in program
    compile(program, "<fix>", "exec")


def test_torch_2_4_allows_names_for_the_process_and_the_bytes_codec():
    """torch 2.4 has add_safe_globals but no context, and refuses _codecs.encode (protocol-2 bytes)."""
    program = safe_globals_load(SOURCE, NAMES, {"torch": "2.4.1", "numpy": "1.26.4"})
    assert "with " not in program and "torch.serialization.add_safe_globals([" in program
    assert "    _codecs.encode,\n" in program and "import _codecs" in program
    compile(program, "<fix>", "exec")


@pytest.mark.parametrize("versions", [{"torch": "2.3.1", "numpy": "1.26.4"}, {"numpy": "2.1.0"}])
def test_no_program_where_torch_cannot_allow_names(versions):
    assert safe_globals_load(SOURCE, NAMES, versions) is None

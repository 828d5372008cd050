"""Write the small real checkpoints committed in tests/data/checkpoints/ (needs torch).

The torch-free tests read these files, written by torch itself, beside the ones
tests/torchfile.py writes by hand. Regenerate with:

    python tests/data/make_checkpoints.py

tests/test_committed.py checks the facts of a fresh regeneration equal those of the committed files.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "checkpoints"


def build(folder: Path) -> list[Path]:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from ocrdoctor.checks import examples as ex

    sd = ex.tiny_state_dict()
    nan = {k: v.clone() for k, v in sd.items()}
    nan["0.weight"][0, 0, 0, 0] = float("nan")
    files = {
        "state_dict.pt": (sd, {}),
        "legacy.pt": (sd, {"_use_new_zipfile_serialization": False}),
        "training.pt": ({"epoch": 12, "model": {f"module.{k}": v for k, v in sd.items()},
                         "optimizer": ex.optimizer_state(sd)}, {}),
        "harmless_extras.pt": (ex.with_harmless_extras(), {}),
        "whole_module.pt": (ex.make_trained(ex.whole_module()), {}),
        "nan.pt": (nan, {}),
        "half_done_cast.pt": ({**ex.tiny_state_dict("float16"), "0.weight": sd["0.weight"]}, {}),
    }
    written = []
    for name, (obj, kwargs) in files.items():
        path = folder / name
        if name == "training.pt":
            with ex.storages_tagged("cuda:0"):
                torch.save(obj, path, **kwargs)
        else:
            torch.save(obj, path, **kwargs)
        written.append(path)
    from safetensors.torch import save_file

    save_file(sd, folder / "state_dict.safetensors", metadata={"arch": "tiny"})
    return written + [folder / "state_dict.safetensors"]


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for path in build(HERE):
        print(f"{path.name}: {path.stat().st_size} bytes")

"""Classes the payload corpus names (tests/payloads.py), importable by their path as a loader imports them.

`SetState.__setstate__` writes the marker its state names: loading a pickle that rebuilds one runs it.
`TeamModel` is a real nn.Module subclass of a team's own code, saved whole with `torch.save(model)`.
"""

from __future__ import annotations

from pathlib import Path


class SetState:
    def __setstate__(self, state: dict) -> None:
        Path(state["marker"]).touch()
        self.__dict__.update(state)


def touch(module, inputs, output) -> None:
    """A forward hook (module, inputs, output): touches the marker the module names."""
    Path(module.marker).touch()


try:
    import torch
except ImportError:  # the torch-free test run imports this module for SetState only
    torch = None

if torch is not None:
    class TeamModel(torch.nn.Module):
        """What a team trains: its own class around torch layers."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.norm = torch.nn.BatchNorm2d(4)

        def forward(self, x):
            return self.norm(self.conv(x))

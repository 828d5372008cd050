"""How a file is saved: torch.save as a GPU machine would have written it, on any machine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def storages_tagged(location: str) -> Iterator[None]:
    """torch.save as if every storage lived on `location` (e.g. "cuda:0"), on any machine."""
    from unittest import mock

    import torch.serialization

    with mock.patch.object(torch.serialization, "location_tag", lambda storage: location):
        yield

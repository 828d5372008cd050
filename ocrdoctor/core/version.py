"""This package's own version, from its metadata: what JSON and SARIF name as the tool."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ocrdoctor")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0.0.0+source"

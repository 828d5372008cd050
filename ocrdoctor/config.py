"""Moved to `ocrdoctor.core.config`; this path keeps old imports working and warns."""

from .core.moved import moved

moved(__name__)

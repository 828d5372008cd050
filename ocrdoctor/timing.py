"""Moved to `ocrdoctor.core.timing`; this path keeps old imports working and warns."""

from .core.moved import moved

moved(__name__)

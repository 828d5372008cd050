"""Moved to `ocrdoctor.anatomy.heads`; this path keeps old imports working and warns."""

from .core.moved import moved

moved(__name__)

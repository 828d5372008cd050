"""Specimens: real docTR and torch objects made on demand, offline.

Rules' examples, treatments (bench, demo) and tests all need the same few objects: a docTR
predictor built without downloading anything, a model that looks trained, BatchNorm
statistics calibrated on a page, a file saved as if from a GPU. They live here, low in the
house, so that a rule's examples never import a treatment and a treatment never imports a
rule's examples. Every function imports torch and docTR lazily.
"""

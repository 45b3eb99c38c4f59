"""Segmenters (step 1 and 3 of Track-Anything): one sub-package per family."""

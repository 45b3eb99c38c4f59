"""Trackers (step 2 of Track-Anything): one sub-package per family (``xmem``)."""

"""FiftyOne integration of tam-label: operators, the Track Anything panel, a
model for ``apply_model`` and a Python API (``plugin.fiftyone.api``).

fiftyone is imported only when these modules are used.
"""


def register(p):
    """Called by FiftyOne (through ``plugin/__init__.py``, the ``py_entry``)."""
    from .fo_operators import OPERATORS

    for op in OPERATORS:
        p.register(op)
    try:
        from .panel import TrackAnythingPanel
    except ImportError:  # panel module not present
        return
    p.register(TrackAnythingPanel)

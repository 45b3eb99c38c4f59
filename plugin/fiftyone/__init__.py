"""FiftyOne integration of tam-label: operators, the Track Anything panel, a
model for ``apply_model`` and a Python API (``plugin.fiftyone.api``).

fiftyone is imported only when these modules are used.
"""


def all_operators() -> tuple:
    """Every operator class the plugin registers (``fiftyone.yml`` lists their names)."""
    from .fo_operators import OPERATORS
    from .preannotate_operator import PreannotateObjects

    return (*OPERATORS, PreannotateObjects)


def register(p):
    """Called by FiftyOne (through ``plugin/__init__.py``, the ``py_entry``)."""
    import logging

    import fiftyone.operators as foo

    for op in all_operators():
        p.register(op)
    # The one case to tolerate: a FiftyOne without the panel API (panels came
    # after operators), where the operators still work. Any ImportError of the
    # panel module itself is a bug and must surface, not hide the panel.
    if not hasattr(foo, "Panel"):
        logging.getLogger(__name__).warning(
            "this FiftyOne has no panel API; the Track Anything panel is not available (the operators are)")
        return
    from .panel import TrackAnythingPanel

    p.register(TrackAnythingPanel)

"""FiftyOne's entry point for the tam-label plugin (``py_entry`` in fiftyone.yml).

fiftyone is imported only inside :func:`register`, so the CVAT and command-line
parts of this package work without it.
"""


def register(p):
    from .fiftyone import register as _register

    _register(p)

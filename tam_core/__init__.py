"""tam_core: the model core of tam-label (SAM prompting, our XMem, refinement,
the tracking session, video I/O and weights). No labeling-tool imports here."""

__version__ = "0.1.0"

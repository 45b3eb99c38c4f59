"""Models for ``tam-label track``/``demo`` (flags: ``model_args``): the checks
that run before any model is loaded (device, precision; ``model_options``
checks the SAM type and checkpoint files); loading is ``tam_core.models.get_models``. What
identifies the models in a resume fingerprint is
``operators.run_record.model_fingerprint``."""

from __future__ import annotations

import argparse
from typing import Any

def check_model_options(args: argparse.Namespace) -> Any:
    """``model_args.model_options(args)`` plus the device checks, all before
    loading: an unavailable device and half precision without CUDA are
    one-line errors here, not after minutes of loading."""
    from tam_core.models import check_device

    from .model_args import model_options

    opts = model_options(args).resolved()  # "auto": the machine's segmenter, said in one line now
    check_device(opts)
    return opts

"""The model flags every ``tam-label`` command shares, and their conversion to
``tam_core.models.ModelOptions`` (what to load) and
``tam_core.options.RunOptions`` (how to run).

``add_model_args(parser)`` adds: ``--sam-type {vit_b,vit_l,vit_h,tiny}`` or
``--segmenter FAMILY:TYPE`` (choices from ``tam_core.segmenters.registry``;
neither: "auto", the machine's choice, ``tam_core.segmenters.auto``, fixed when
the models load and said on stderr in one line),
``--sam-checkpoint``, ``--tracker`` (choices from ``tam_core.trackers.registry``),
``--tracker-checkpoint``, ``--xmem-checkpoint``, ``--cache-dir``, ``--offline``,
``--device``, ``--fp16`` / ``--bf16`` and ``--no-refine``. Parsing imports
neither torch nor the models.
"""

from __future__ import annotations

import argparse
import sys

from tam_core.models import AUTOCAST, ModelOptions
from tam_core.options import RunOptions


class _DeprecatedAlias(argparse.Action):
    """A hidden old spelling of an option: stores into the new option's dest and
    says on stderr which flag to use instead."""

    def __init__(self, option_strings, dest, new_flag: str, **kwargs):
        self.new_flag = new_flag
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"tam-label: {option_string} is deprecated; use {self.new_flag}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_model_args(parser: argparse.ArgumentParser, deprecated_sam_alias: bool = False) -> None:
    """Add the shared model flags to ``parser`` (a command's sub-parser).

    deprecated_sam_alias: also accept the old ``--sam TYPE`` spelling (hidden
    from --help), as ``tam-label cvat`` did before ``--sam-type``.
    """
    from tam_core.segmenters.auto import AUTO, CPU_CHOICE, GPU_CHOICE
    from tam_core.segmenters.registry import DEFAULT_FAMILY, get_family, segmenter_choices

    g = parser.add_argument_group("models")
    sam = get_family(DEFAULT_FAMILY)
    types = sam.all_types
    which = g.add_mutually_exclusive_group()
    which.add_argument("--sam-type", choices=types, default=None,
                       help=f"{sam.title} model: {', '.join(sam.types)} (vit_b the fastest); "
                            f"test-only (random weights, needs --sam-checkpoint): {', '.join(sam.test_types)}")
    which.add_argument("--segmenter", choices=[AUTO, *segmenter_choices(include_test=True)], default=None,
                       metavar="FAMILY:TYPE",
                       help=f"the segmenter as family:type, one of {', '.join(segmenter_choices())} "
                            f"(--sam-type T is --segmenter sam:T); default {AUTO}: {CPU_CHOICE} on a CPU, "
                            f"{GPU_CHOICE} on a GPU (said on stderr at start-up)")
    if deprecated_sam_alias:
        g.add_argument("--sam", dest="sam_type", choices=types, default=argparse.SUPPRESS, action=_DeprecatedAlias,
                       new_flag="--sam-type", help=argparse.SUPPRESS)
    g.add_argument("--sam-checkpoint", default=None, metavar="PATH",
                   help="the segmenter's local weights (a .pth/.pt file; for sam2 a Hugging Face model folder) "
                        "instead of the cached/downloaded official weights")
    from tam_core.trackers.registry import tracker_choices

    g.add_argument("--tracker", default="xmem", metavar="FAMILY[:TYPE]",
                   choices=["xmem", "sam2", *tracker_choices(include_test=True)],
                   help=f"the tracking engine: {', '.join(tracker_choices())} (default xmem; sam2 = SAM 2.1 "
                        "hiera_tiny, needs the hf extra)")
    g.add_argument("--tracker-checkpoint", default=None, metavar="PATH",
                   help="local tracker weights instead of the official ones: XMem's .pth, or SAM 2.1's "
                        "Hugging Face folder (config.json + model.safetensors)")
    g.add_argument("--xmem-checkpoint", default=None, metavar="PATH",
                   help="local XMem checkpoint (.pth) instead of the cached/downloaded official weights")
    g.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="weights cache folder (default $TAM_LABEL_CACHE, else ~/.cache/tam-label)")
    g.add_argument("--offline", action="store_true",
                   help="never download weights: use the cache or the --*-checkpoint files")
    g.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    prec = g.add_mutually_exclusive_group()
    prec.add_argument("--fp16", action="store_const", dest="autocast", const="fp16", help="half precision (CUDA only)")
    prec.add_argument("--bf16", action="store_const", dest="autocast", const="bf16", help="bfloat16 precision (CUDA only)")
    g.add_argument("--no-refine", action="store_true", help="no SAM refinement of frames whose tracking quality dropped")
    parser.set_defaults(autocast=AUTOCAST[0])


def model_options(args: argparse.Namespace, **overrides) -> ModelOptions:
    """What to load, from the flags of :func:`add_model_args` (validated, and
    given checkpoint files must exist; loads nothing). ``overrides`` set other
    ModelOptions fields (e.g. ``xmem_config``)."""
    tracker_checkpoint = getattr(args, "tracker_checkpoint", None)
    for flag, value in (("--sam-checkpoint", args.sam_checkpoint), ("--xmem-checkpoint", args.xmem_checkpoint),
                        ("--tracker-checkpoint", tracker_checkpoint)):
        if value is not None:
            _check_file(flag, value)
    fields = dict(
        sam_checkpoint=args.sam_checkpoint, xmem_checkpoint=args.xmem_checkpoint,
        tracker=getattr(args, "tracker", None) or "xmem", tracker_checkpoint=tracker_checkpoint,
        device=args.device, cache_dir=args.cache_dir, autocast=args.autocast, download=not args.offline,
    )
    fields.update(overrides)
    # no choice: the machine's ("auto"); a bare --sam-checkpoint keeps meaning a SAM vit_b file, as it always did
    spec = getattr(args, "segmenter", None) or args.sam_type or ("vit_b" if args.sam_checkpoint else "auto")
    return ModelOptions.for_segmenter(spec, **fields)


def _check_file(flag: str, value: str) -> None:
    from pathlib import Path

    from tam_core.errors import CheckpointError

    from tam_core.weights.hub import is_snapshot_folder

    path = Path(value).expanduser()
    if is_snapshot_folder(path):
        return  # a Hugging Face model folder (config.json + weights)
    if path.is_dir():
        raise CheckpointError(f"{flag} {path} is a folder without config.json; pass the .pth file inside it "
                              "(or, for Hugging Face weights, the folder holding config.json)")
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path} ({flag}); check the path")


def add_concept_args(parser: argparse.ArgumentParser) -> None:
    """``--concepts [LABELS]`` (pre-annotate from class names with SAM 3),
    ``--concept-threshold``, ``--concept-model``, ``--concept-checkpoint``;
    ``--cache-dir``, ``--offline`` and ``--device`` (from :func:`add_model_args`) apply too."""
    from tam_core.concepts.registry import concept_choices

    g = parser.add_argument_group("concept prompts (SAM 3: find every instance of a class, no clicks)")
    g.add_argument("--concepts", nargs="?", const="", default=None, metavar="LABELS",
                   help="find, segment and track every instance of the task's labels with SAM 3 instead of tracking "
                        "a person's prompts: no value = every label, its name as the phrase; or 'car,person' or "
                        "'car=red car,person' (label=phrase)")
    g.add_argument("--concept-threshold", type=float, default=0.5, metavar="S",
                   help="the lowest SAM 3 score kept, 0..1 (default 0.5)")
    g.add_argument("--concept-model", default="sam3", choices=["sam3", *concept_choices(include_test=True)],
                   metavar="FAMILY[:TYPE]", help="the concept model (default sam3: facebook/sam3, gated: accept "
                   "Meta's SAM License on its Hugging Face page and set HF_TOKEN or run `hf auth login`)")
    g.add_argument("--concept-checkpoint", default=None, metavar="PATH",
                   help="a local SAM 3 Hugging Face folder (config.json + model.safetensors) instead of the official weights")


def concept_options(args: argparse.Namespace):
    """``tam_core.concepts.ConceptOptions`` from :func:`add_concept_args`' flags (validated; loads nothing)."""
    from tam_core.concepts.load import ConceptOptions

    if args.concept_checkpoint is not None:
        _check_file("--concept-checkpoint", args.concept_checkpoint)
    return ConceptOptions(model=args.concept_model, checkpoint=args.concept_checkpoint, device=args.device,
                          cache_dir=args.cache_dir, download=not args.offline)


def run_options(args: argparse.Namespace, **overrides) -> RunOptions:
    """How to run: ``--no-refine``, plus ``--direction`` and ``--batch-size``
    when the command has them (else RunOptions' defaults); ``overrides`` win."""
    fields = {"refine": not args.no_refine}
    for name in ("direction", "batch_size"):
        if getattr(args, name, None) is not None:
            fields[name] = getattr(args, name)
    fields.update(overrides)
    return RunOptions(**fields)


__all__ = ["add_concept_args", "add_model_args", "concept_options", "model_options", "run_options"]

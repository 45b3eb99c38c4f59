"""``tam-label eval PRED_DIR GT_DIR``: DAVIS J, F and J&F of label PNG folders."""

from __future__ import annotations

import argparse
import math


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score predicted label PNGs against ground truth (DAVIS J, F, J&F)",
        description=(
            "Score DAVIS-style indexed PNGs (pixel value = object id; 255 in ground truth = void) "
            "matched by file name. GT_DIR is one sequence or a folder of sequence folders. "
            "By the DAVIS 2017 semi-supervised convention the first and last frames are not scored."
        ),
    )
    p.add_argument("pred_dir", metavar="PRED_DIR", help="predicted label PNGs")
    p.add_argument("gt_dir", metavar="GT_DIR", help="ground-truth label PNGs")
    p.add_argument("--json", metavar="OUT", default=None, help="also write all scores (per frame too) to this JSON file")
    p.add_argument("--all-frames", action="store_true", help="score the first and last frames too")
    p.add_argument("--bound-th", type=float, default=0.008, help="boundary tolerance: fraction of the diagonal (<1) or pixels (default 0.008)")
    p.add_argument("--no-void", action="store_true", help="treat 255 in ground truth as an object id, not void")
    p.set_defaults(func=run)


def _fmt(v: float) -> str:
    return "  n/a" if math.isnan(v) else f"{v:.3f}"


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from tam_core.errors import ConfigError
    from tam_core.evaluation.metrics import EvalOptions, evaluate_folders

    if args.bound_th <= 0:
        raise ConfigError(f"--bound-th must be positive, got {args.bound_th}")
    options = EvalOptions(
        bound_th=args.bound_th,
        exclude_first=not args.all_frames,
        exclude_last=not args.all_frames,
        void_label=None if args.no_void else 255,
    )
    report = evaluate_folders(args.pred_dir, args.gt_dir, options)
    print(f"{'sequence':<20} {'object':>6} {'J':>6} {'F':>6} {'J&F':>6}")
    for seq in report.sequences:
        for obj in seq.objects:
            print(f"{seq.name or '-':<20} {obj.object_id:>6} {_fmt(obj.j_mean):>6} {_fmt(obj.f_mean):>6} {_fmt(obj.jf_mean):>6}")
        if seq.ignored_pred_ids:
            print(f"  ({seq.name or 'sequence'}: predicted ids {seq.ignored_pred_ids} are not in the ground truth; ignored)")
    n = sum(len(s.objects) for s in report.sequences)
    print(f"{'mean':<20} {n:>6} {_fmt(report.j_mean):>6} {_fmt(report.f_mean):>6} {_fmt(report.jf_mean):>6}")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.to_dict(), indent=2))
    return 0

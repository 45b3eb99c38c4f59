"""``tam-label export RUN_DIR --out FILE.json``: a finished ``track`` folder as
YouTube-VIS JSON with COCO RLE masks (``operators.export``)."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a finished track folder as YouTube-VIS JSON (COCO RLE per frame)",
        description=(
            "Convert the indexed PNGs of a finished `tam-label track` folder into one\n"
            "YouTube-VIS JSON file: one video, a category per object label, one annotation\n"
            "per object with a COCO RLE mask, a pixel box and an area for every frame\n"
            "(null where the object is absent). Needs pycocotools (the `export` extra)."
        ),
        epilog="example:\n  tam-label track video.mp4 --out masks/ --point 0:1:320,240\n"
               "  tam-label export masks/ --out masks.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="folder written by `tam-label track --out`")
    p.add_argument("--out", required=True, metavar="FILE", help="JSON file to write (parent folders are created)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tam_core.errors import ConfigError

    try:
        import pycocotools  # noqa: F401
    except ImportError:
        raise ConfigError('export needs pycocotools: pip install -e ".[export]" (or pip install pycocotools)') from None
    from operators.export import run_folder_to_ytvis
    from operators.run_record import write_json_durably

    out = Path(args.out)
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; give a .json file name")
    data = run_folder_to_ytvis(args.run_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_durably(out, data)  # whole or not at all
    objs = len(data["annotations"])
    print(f"exported {objs} object(s) over {data['videos'][0]['length']} frames -> {out}")
    return 0

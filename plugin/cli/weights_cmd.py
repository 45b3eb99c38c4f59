"""``tam-label weights list|download|verify|path``: the official checkpoints in the cache."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "weights",
        help="list, download and verify the official segmenter (SAM) / XMem checkpoints",
        description="Manage the checkpoint cache ($TAM_LABEL_CACHE, else ~/.cache/tam-label; --cache-dir overrides).",
    )
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION")

    def action(name: str, helptext: str, func, names: str | None):
        q = sub.add_parser(name, help=helptext, description=helptext)
        if names == "+":
            q.add_argument("names", nargs="+", metavar="NAME", help="checkpoint name (see `tam-label weights list`)")
        elif names == "*":
            q.add_argument("names", nargs="*", metavar="NAME", help="checkpoint names (default: every cached one)")
        elif names == "1":
            q.add_argument("name", metavar="NAME", help="checkpoint name")
        q.add_argument("--cache-dir", default=None, help="cache folder (default: $TAM_LABEL_CACHE or ~/.cache/tam-label)")
        q.set_defaults(func=func)
        return q

    action("list", "show each checkpoint, its size and whether it is cached", _list, None)
    d = action("download", "download checkpoints into the cache (resumes partial downloads)", _download, "+")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    action("verify", "re-check cached checkpoints (size and SHA-256; XMem: size, keys and shapes)", _verify, "*")
    action("path", "print where a checkpoint is (or would be) cached", _path, "1")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _human(size: int | None) -> str:
    if size is None:
        return "~249 MB"  # XMem-s012: exact size not published
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


def _list(args: argparse.Namespace) -> int:
    from tam_core.weights import REGISTRY, cached_path

    rows = []
    for name, ckpt in REGISTRY.items():
        path = cached_path(ckpt, args.cache_dir)
        if path.is_file():
            state = str(path)
        elif path.with_name(path.name + ".part").is_file():
            state = "partial download (run `tam-label weights download` to resume)"
        else:
            state = "not cached"
        rows.append((name, ckpt.family, _human(ckpt.size), state))
    width, fwidth = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    for name, family, size, state in rows:
        print(f"{name:<{width}}  {family:<{fwidth}}  {size:>8}  {state}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from tam_core.weights import cached_path, get_checkpoint, resolve_checkpoint

    ckpts = [get_checkpoint(n) for n in args.names]  # reject typos before downloading anything
    for ckpt in ckpts:
        already = cached_path(ckpt, args.cache_dir).is_file()
        path = resolve_checkpoint(ckpt.name, cache_dir=args.cache_dir, progress=not args.no_progress)
        print(f"{ckpt.name}: {'already cached' if already else 'downloaded'} {path}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from tam_core.errors import CheckpointError
    from tam_core.weights import REGISTRY, cached_path, get_checkpoint, verify_checkpoint

    if args.names:
        ckpts = [get_checkpoint(n) for n in args.names]
    else:
        ckpts = [c for c in REGISTRY.values() if cached_path(c, args.cache_dir).is_file()]
        if not ckpts:
            print("no checkpoints are cached; nothing to verify (see `tam-label weights list`)")
            return 0
    failed = 0
    for ckpt in ckpts:
        path = cached_path(ckpt, args.cache_dir)
        try:
            verify_checkpoint(ckpt, path, progress=sys.stderr.isatty())
        except CheckpointError as exc:
            failed += 1
            print(f"{ckpt.name}: FAILED: {exc}")
            continue
        how = "size and SHA-256" if ckpt.sha256 else "size and layout of XMem's weights (no published hash)"
        print(f"{ckpt.name}: OK ({how}) {path}")
    return 1 if failed else 0


def _path(args: argparse.Namespace) -> int:
    from tam_core.weights import cached_path, get_checkpoint

    path = cached_path(get_checkpoint(args.name), args.cache_dir)
    print(path)
    if not path.is_file():
        print(f"(not downloaded yet: `tam-label weights download {args.name}` or put the file there)", file=sys.stderr)
    return 0

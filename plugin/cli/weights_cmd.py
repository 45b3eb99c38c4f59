"""``tam-label weights list|download|verify|path``: the official checkpoints in the cache."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "weights",
        help="list, download and verify the official segmenter / tracker checkpoints (files and Hugging Face Hub repos)",
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


def _human(ckpt) -> str:
    if ckpt.size is None:
        if ckpt.on_hub:
            return "Hub repo"
        return "~249 MB" if ckpt.family == "xmem" else "?"  # XMem-s012: exact size not published
    return f"{ckpt.size / 1e9:.2f} GB" if ckpt.size >= 1e9 else f"{ckpt.size / 1e6:.0f} MB"


def _cached(ckpt, cache_dir):
    """The cached file or Hub snapshot folder of ``ckpt``, or None."""
    from tam_core.weights import cached_path
    from tam_core.weights.hub import local_snapshot

    if ckpt.on_hub:
        return local_snapshot(ckpt, cache_dir)
    path = cached_path(ckpt, cache_dir)
    return path if path.is_file() else None


def _list(args: argparse.Namespace) -> int:
    from tam_core.weights import REGISTRY, cached_path

    rows = []
    for name, ckpt in REGISTRY.items():
        found = _cached(ckpt, args.cache_dir)
        if found is not None:
            state = str(found)
        elif not ckpt.on_hub and cached_path(ckpt, args.cache_dir).with_name(ckpt.filename + ".part").is_file():
            state = "partial download (run `tam-label weights download` to resume)"
        else:
            state = "not cached"
        license_ = (ckpt.license or "") + (" (gated: accept it on the Hub, set HF_TOKEN)" if ckpt.gated else "")
        rows.append((name, ckpt.family, _human(ckpt), license_ or "-", state))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        name, family, size, license_, state = row
        print(f"{name:<{widths[0]}}  {family:<{widths[1]}}  {size:>8}  {license_:<{widths[3]}}  {state}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from tam_core.weights import get_checkpoint, resolve_checkpoint

    ckpts = [get_checkpoint(n) for n in args.names]  # reject typos before downloading anything
    for ckpt in ckpts:
        already = _cached(ckpt, args.cache_dir) is not None
        path = resolve_checkpoint(ckpt.name, cache_dir=args.cache_dir, progress=not args.no_progress)
        print(f"{ckpt.name}: {'already cached' if already else 'downloaded'} {path}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from tam_core.errors import CheckpointError
    from tam_core.weights import REGISTRY, cached_path, get_checkpoint, verify_checkpoint
    from tam_core.weights.cache import published_digest
    from tam_core.weights.hub import verify_snapshot

    if args.names:
        ckpts = [get_checkpoint(n) for n in args.names]
    else:
        ckpts = [c for c in REGISTRY.values() if _cached(c, args.cache_dir) is not None]
        if not ckpts:
            print("no checkpoints are cached; nothing to verify (see `tam-label weights list`)")
            return 0
    failed = 0
    for ckpt in ckpts:
        path = _cached(ckpt, args.cache_dir) or cached_path(ckpt, args.cache_dir)
        try:
            if ckpt.on_hub:
                if not path.is_dir():
                    raise CheckpointError(f"{ckpt.name} is not cached; run `tam-label weights download {ckpt.name}`")
                verify_snapshot(ckpt, path)
            else:
                verify_checkpoint(ckpt, path, progress=sys.stderr.isatty())
        except CheckpointError as exc:
            failed += 1
            print(f"{ckpt.name}: FAILED: {exc}")
            continue
        if ckpt.on_hub:
            how = "SHA-256 of each weights file against the Hub's"
        elif ckpt.sha256:
            how = "size and SHA-256"
        elif published_digest(path):
            how = "SHA-256 the server published at download"
        else:
            how = ("size and layout of XMem's weights (no published hash)" if ckpt.family == "xmem"
                   else "a complete PyTorch archive (no published hash; keys checked on load)")
        print(f"{ckpt.name}: OK ({how}) {path}")
    return 1 if failed else 0


def _path(args: argparse.Namespace) -> int:
    from tam_core.weights import cached_path, get_checkpoint
    from tam_core.weights.hub import hub_cache_dir

    ckpt = get_checkpoint(args.name)
    if ckpt.on_hub:
        found = _cached(ckpt, args.cache_dir)
        print(found or f"{hub_cache_dir(args.cache_dir) or 'the Hugging Face cache'} ({ckpt.repo_id})")
        if found is None:
            print(f"(not downloaded yet: `tam-label weights download {args.name}`)", file=sys.stderr)
        return 0
    path = cached_path(ckpt, args.cache_dir)
    print(path)
    if not path.is_file():
        print(f"(not downloaded yet: `tam-label weights download {args.name}` or put the file there)", file=sys.stderr)
    return 0

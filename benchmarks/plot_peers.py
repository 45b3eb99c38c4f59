"""Plot ``benchmarks/peers.py --json`` output: time and peak memory vs video length.

    python benchmarks/plot_peers.py PEERS.json [--out docs/peers.png] [--title TEXT]

Left: CPU seconds and wall seconds per propagated frame; right: the process's
peak RSS; one line per implementation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

LABELS = {"ours": "tam-label XMem", "sam2": "SAM 2"}


def plot(data: dict, out: Path, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 3.6), dpi=100)
    for impl in dict.fromkeys(r["impl"] for r in data["rows"]):
        rows = sorted((r for r in data["rows"] if r["impl"] == impl), key=lambda r: r["length"])
        lengths = [r["length"] for r in rows]
        name = LABELS.get(impl, impl)
        line, = ax_t.plot(lengths, [r["cpu_s_per_frame"] for r in rows], "o-", label=f"{name} (CPU-s)")
        ax_t.plot(lengths, [r["wall_s_per_frame"] for r in rows], "o--", color=line.get_color(), alpha=0.5,
                  label=f"{name} (wall s)")
        ax_m.plot(lengths, [r["peak_rss_mib"] for r in rows], "o-", color=line.get_color(), label=name)
    ticks = sorted({r["length"] for r in data["rows"]})
    ax_t.set(xlabel="video length (frames)", ylabel="seconds per frame", ylim=(0, None), xticks=ticks)
    ax_m.set(xlabel="video length (frames)", ylabel="peak RSS (MiB)", ylim=(0, None), xticks=ticks)
    ax_t.legend(fontsize=7)
    ax_m.legend(fontsize=7)
    h, w = data["size"]
    fig.suptitle(title or f"{h}x{w}, {data['objects']} objects, CPU, {data['machine']['threads']} threads", fontsize=9)
    fig.tight_layout()
    fig.savefig(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", type=Path, help="output of benchmarks/peers.py --json")
    p.add_argument("--out", type=Path, default=Path("docs/peers.png"))
    p.add_argument("--title", default=None)
    a = p.parse_args(argv)
    plot(json.loads(a.json.read_text()), a.out, a.title)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

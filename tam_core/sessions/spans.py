"""Which keyframe each frame is tracked from (the propagation rule).

For one object with sorted keyframes ``K`` on a video of ``T`` frames, frame
``t`` is tracked from its *nearest* keyframe in the allowed direction(s):

- ``forward``: the latest keyframe ``k <= t``; frames before the first keyframe
  are not covered (the object is absent there and never yielded);
- ``backward``: the earliest keyframe ``k >= t``; frames after the last keyframe
  are not covered;
- ``both``: the nearest keyframe; on a tie the earlier one (forward) wins.

So each keyframe ``k`` owns a forward part ``[k, hi]`` (tracked by a forward
pass starting at ``k``) and a backward part ``[lo, k-1]`` (tracked by a backward
pass starting at ``k``); the keyframe frame itself belongs to the forward part,
except under ``backward`` where it belongs to the backward part. Everything is
intervals, so the state is O(keyframes) whatever the video length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from tam_core.errors import ConfigError

DIRECTIONS = ("forward", "backward", "both")


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ConfigError(f"unknown direction {direction!r}: use one of {', '.join(DIRECTIONS)}")
    return direction


@dataclass(frozen=True)
class Span:
    """The frames one keyframe owns in one pass.

    reverse: False for the forward pass (frames ``keyframe .. stop`` increasing),
    True for the backward pass (``keyframe .. stop`` decreasing). ``stop`` is
    inclusive. ``yield_keyframe``: whether the keyframe frame itself is reported
    by this pass (it is always stepped: the mask is injected there).
    """

    object_id: int
    keyframe: int
    stop: int
    reverse: bool
    yield_keyframe: bool

    @property
    def lo(self) -> int:
        return min(self.keyframe, self.stop)

    @property
    def hi(self) -> int:
        return max(self.keyframe, self.stop)

    def yields(self, t: int) -> bool:
        return self.lo <= t <= self.hi and (t != self.keyframe or self.yield_keyframe)


def keyframe_spans(object_id: int, keyframes: Sequence[int], k: int, num_frames: int, direction: str) -> list[Span]:
    """The spans (0, 1 or 2) owned by keyframe ``k`` among ``keyframes``."""
    ks = sorted(set(keyframes))
    i = ks.index(k)
    prev = ks[i - 1] if i > 0 else None
    nxt = ks[i + 1] if i + 1 < len(ks) else None
    out: list[Span] = []
    if direction in ("forward", "both"):
        if nxt is None:
            hi = num_frames - 1
        elif direction == "forward":
            hi = nxt - 1
        else:
            hi = (k + nxt) // 2  # ties (equal distance) go to the earlier keyframe
        out.append(Span(object_id, k, hi, reverse=False, yield_keyframe=True))
    if direction == "backward":
        lo = 0 if prev is None else prev + 1
        out.append(Span(object_id, k, lo, reverse=True, yield_keyframe=True))
    elif direction == "both":
        lo = 0 if prev is None else (prev + k) // 2 + 1
        if lo <= k - 1:
            out.append(Span(object_id, k, lo, reverse=True, yield_keyframe=False))
    return out


def nearest_keyframe(keyframes: Sequence[int], t: int, direction: str) -> int | None:
    """The keyframe frame ``t`` is tracked from (None: not covered)."""
    before = [k for k in keyframes if k <= t]
    after = [k for k in keyframes if k >= t]
    if direction == "forward":
        return max(before) if before else None
    if direction == "backward":
        return min(after) if after else None
    if not before:
        return min(after) if after else None
    if not after:
        return max(before)
    b, a = max(before), min(after)
    return b if t - b <= a - t else a


def coverage(keyframes: Sequence[int], num_frames: int, direction: str) -> tuple[int, int] | None:
    """(first, last) frame covered for an object with these keyframes (inclusive)."""
    if not keyframes:
        return None
    if direction == "forward":
        return min(keyframes), num_frames - 1
    if direction == "backward":
        return 0, max(keyframes)
    return 0, num_frames - 1


def merge_runs(spans: Sequence[Span]) -> list[tuple[int, int]]:
    """Merge the spans of one pass into runs of consecutive frames (lo, hi),
    sorted by lo; each run is tracked by one fresh tracker."""
    runs: list[list[int]] = []
    for s in sorted(spans, key=lambda s: s.lo):
        if runs and s.lo <= runs[-1][1] + 1:
            runs[-1][1] = max(runs[-1][1], s.hi)
        else:
            runs.append([s.lo, s.hi])
    return [(a, b) for a, b in runs]


@dataclass(frozen=True)
class TrackerRun:
    """One run of consecutive frames ``lo..hi`` (inclusive) tracked by one
    fresh tracker in one direction, holding every object whose span lies in it
    *jointly* (XMem's soft aggregation makes an object's masks depend on the
    others tracked with it). The unit of resuming: a run redone in full gives
    the masks of an uninterrupted run; a run redone with fewer objects does not.
    """

    reverse: bool
    lo: int
    hi: int
    spans: tuple[Span, ...]

    @property
    def key(self) -> str:
        """Identifies the run within a plan, e.g. ``fwd 0-29 1@0 2@20``."""
        keyed = " ".join(f"{s.object_id}@{s.keyframe}" for s in sorted(self.spans, key=lambda s: (s.object_id, s.keyframe)))
        return f"{'bwd' if self.reverse else 'fwd'} {self.lo}-{self.hi} {keyed}"

    @property
    def num_frames(self) -> int:
        return self.hi - self.lo + 1

    def yields(self, t: int, object_id: int) -> bool:
        """Whether this run reports ``object_id`` on frame ``t``."""
        return any(s.object_id == object_id and s.yields(t) for s in self.spans)


def plan_runs(spans: Sequence[Span]) -> list[TrackerRun]:
    """The tracker runs of a propagation, in the order they are tracked:
    forward runs by increasing ``lo``, then backward runs."""
    out: list[TrackerRun] = []
    for reverse in (False, True):
        part = [s for s in spans if s.reverse == reverse]
        for lo, hi in merge_runs(part):
            mine = tuple(s for s in part if lo <= s.lo and s.hi <= hi)
            out.append(TrackerRun(reverse, lo, hi, mine))
    return out

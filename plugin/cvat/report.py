"""What a CVAT run did (or, dry, would do), and its printed summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .sink import STABLE_IOU, SinkCounts


@dataclass
class CvatRunReport:
    """objects: object id -> description (label and group); keyframes: (object id,
    task frame) prompts used; changed: the new/edited keyframes (fix);
    frames: the task frames [first, stop) worked on; replaceable: our earlier
    masks in that range; copies: extra copies of our masks; decisions: what a
    person did to our masks since the last run ("edited" / "deleted" /
    "relabelled" -> list of (object, frame) descriptions); overlaps: lines
    naming the job that holds each run of overlap frames; finished_jobs: the
    accepted/completed jobs (left alone unless include_completed);
    stale_deleted: our masks removed from deleted frames; counts: what the
    sink sent.
    """

    task_id: int
    command: str
    frames: tuple[int, int]
    objects: dict[int, str]
    keyframes: list[tuple[int, int]]
    changed: list[tuple[int, int]] = field(default_factory=list)
    replaceable: int = 0
    person_shapes: int = 0
    adopted: int = 0
    copies: int = 0
    dry_run: bool = False
    counts: SinkCounts = field(default_factory=SinkCounts)
    track: Any = None  # operators.track.TrackReport
    message: str = ""
    decisions: dict[str, list[str]] = field(default_factory=dict)
    declined: list[str] = field(default_factory=list)  # (object, frame) a person deleted earlier, in range
    overlaps: list[str] = field(default_factory=list)
    finished_jobs: list[int] = field(default_factory=list)
    include_completed: bool = False
    ignored: dict[str, int] = field(default_factory=dict)
    on_deleted_frames: int = 0
    stale_deleted: int = 0
    touched: list[str] = field(default_factory=list)
    concepts: dict[str, str] = field(default_factory=dict)  # track --concepts: label -> phrase looked for
    found: dict[Any, Any] = field(default_factory=dict)  # track --concepts: object -> operators.preannotate.FoundTrack

    def summary(self) -> str:
        head = "would" if self.dry_run else "did"
        lines = [
            f"task {self.task_id}: {self.command} on task frames {self.frames[0]}..{self.frames[1] - 1}"
            + (" (dry run: nothing was changed)" if self.dry_run else ""),
            "  objects: " + (_listed([f"{oid}={d}" for oid, d in self.objects.items()]) or "none"),
            f"  keyframes (object, frame): {self.keyframes}",
        ]
        if self.command == "fix":
            lines.append(f"  corrected keyframes to re-track from: {self.changed}")
        if self.concepts:
            lines.append("  looked for (label: phrase): " + ", ".join(f"{k}: '{v}'" for k, v in self.concepts.items()))
        if self.found:
            lines.append("  found (label, group: best score, first frame): " + _listed([
                f"'{t.label}' {key[1]}: {t.score:.2f}, {t.first_frame + self.frames[0]}" for key, t in sorted(self.found.items())]))
        lines.append(f"  person's shapes kept untouched: {self.person_shapes}; earlier auto masks in range: {self.replaceable}")
        what = {"edited": "edited by a person (now their keyframes)",
                "deleted": "deleted by a person (never re-created: 'not this object here')",
                "relabelled": "relabelled by a person (theirs under the new label; the old object is not re-created there)"}
        for kind, text in what.items():
            if self.decisions.get(kind):
                lines.append(f"  our masks {text}: {', '.join(self.decisions[kind])}")
        if self.declined:
            lines.append(f"  frames where a person deleted the object's mask (left empty): {len(self.declined)}")
        if self.copies:
            lines.append(f"  extra copies of our masks in overlapping jobs (removed): {self.copies}")
        if self.finished_jobs:
            how = "included (--include-completed)" if self.include_completed else "left alone (--include-completed to change them)"
            lines.append(f"  accepted/completed jobs {how}: {self.finished_jobs}")
        for text in self.overlaps:
            lines.append(f"  {text}")
        if self.on_deleted_frames or self.stale_deleted:
            lines.append(f"  deleted frames: {self.on_deleted_frames} prompts there not used, "
                         f"{self.stale_deleted} masks of ours there {'removed' if not self.dry_run else 'to remove'}")
        if self.ignored:
            parts = ", ".join(f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(self.ignored.items()))
            lines.append(f"  ignored (not prompts): {parts}"
                         + ("; tracks are not read: draw the prompt as a shape (e.g. a mask on one frame)" if "track" in self.ignored else ""))
        if not self.dry_run:
            c = self.counts
            lines.append(
                f"  {head}: upload {c.created} masks, replace {c.deleted} earlier ones, keep {c.unchanged} unchanged "
                f"(IoU >= {STABLE_IOU}), skip {c.kept_manual} frames with a person's mask, {c.empty} empty"
            )
            if c.finished:
                lines.append(f"  frames left alone in accepted/completed jobs: {c.finished}")
            if self.touched:
                lines.append(f"  changed by a person during this run (left alone; the next run or fix uses them): {', '.join(self.touched)}")
        if self.message:
            lines.append(f"  {self.message}")
        return "\n".join(lines)


def _listed(items: list[str], limit: int = 12) -> str:
    """The first ``limit`` items, then how many more (a pre-annotation may find hundreds)."""
    more = f", ... and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more

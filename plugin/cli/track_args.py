"""Prompt flags of ``tam-label track``: ``--point``, ``--neg-point``, ``--box``,
``--mask``, ``--label`` -> :class:`tam_core.types.Prompt` objects.

Frames are 0-based; coordinates are pixels (x to the right, y down, a frame
spans [0, W] x [0, H] closed: ``tam_core.prompts``). Object ids are 1..255: the id is the pixel value of
the output PNG (and 255 is DAVIS "void" in a mask file, never an object).
Syntax errors raise :class:`tam_core.errors.PromptError` with one line that
names the flag; checks against the video (frame range, points inside the
frame, mask size) happen in ``check_prompts`` once the video is open.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from tam_core.errors import PromptError
from tam_core.prompts import check_object_id
from tam_core.types import Prompt

from tam_core.prompts import PNG_MAX_OBJECT_ID as MAX_OBJECT_ID


@dataclass(frozen=True)
class ParsedPrompts:
    """prompts: every prompt given, class labels attached; notes: one line per
    mask file telling how it was read (e.g. a black-and-white mask -> object 1)."""

    prompts: tuple[Prompt, ...]
    notes: tuple[str, ...] = ()


def _numbers(text: str, n: int, what: str, arg: str) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise PromptError(f"{arg}: {what} must be {n} comma-separated numbers, got {text!r}")
    return vals


def _frame_obj(frame: str, obj: str, arg: str) -> tuple[int, int]:
    try:
        f, o = int(frame), int(obj)
    except ValueError:
        raise PromptError(f"{arg}: FRAME and OBJ must be integers") from None
    if f < 0:
        raise PromptError(f"{arg}: frame numbers start at 0")
    return f, check_object_id(o, MAX_OBJECT_ID, arg)


def parse_point(text: str, positive: bool = True) -> Prompt:
    """``FRAME:OBJ:X,Y[:pos|neg|1|0]`` -> a one-click Prompt."""
    opt = "--point" if positive else "--neg-point"
    arg = f"{opt} {text}"
    parts = text.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and not positive):
        form = "FRAME:OBJ:X,Y[:pos|neg]" if positive else "FRAME:OBJ:X,Y"
        raise PromptError(f"{arg}: expected {form}, e.g. 0:1:120,80")
    f, o = _frame_obj(parts[0], parts[1], arg)
    x, y = _numbers(parts[2], 2, "X,Y", arg)
    label = 1 if positive else 0
    if len(parts) == 4:
        kinds = {"pos": 1, "1": 1, "neg": 0, "0": 0}
        if parts[3] not in kinds:
            raise PromptError(f"{arg}: the point label must be pos, neg, 1 or 0")
        label = kinds[parts[3]]
    return Prompt(f, o, points=np.array([[x, y]], np.float32), point_labels=np.array([label]))


def parse_box(text: str) -> Prompt:
    """``FRAME:OBJ:X0,Y0,X1,Y1`` -> a box Prompt."""
    arg = f"--box {text}"
    parts = text.split(":")
    if len(parts) != 3:
        raise PromptError(f"{arg}: expected FRAME:OBJ:X0,Y0,X1,Y1, e.g. 0:1:10,20,110,90")
    f, o = _frame_obj(parts[0], parts[1], arg)
    return Prompt(f, o, box=np.array(_numbers(parts[2], 4, "X0,Y0,X1,Y1", arg), np.float32))


def parse_mask(text: str) -> tuple[list[Prompt], str | None]:
    """``FRAME:FILE.png`` -> one mask Prompt per object in the file, and a note
    on how the file was read (``tam_core.video.davis.read_mask_prompt``)."""
    from tam_core.video.davis import LabelImageError, read_mask_prompt

    arg = f"--mask {text}"
    frame, sep, path = text.partition(":")
    if not sep or not path:
        raise PromptError(f"{arg}: expected FRAME:FILE.png")
    f, _ = _frame_obj(frame, "1", arg)
    try:
        read = read_mask_prompt(path, "--mask")
    except LabelImageError as exc:
        raise PromptError(str(exc)) from None
    if not read.object_ids:
        raise PromptError(f"{arg}: the mask has no object (all pixels are 0)")
    return [Prompt(f, oid, mask=read.labels == oid) for oid in read.object_ids], read.note


def parse_labels(items: Iterable[str]) -> dict[int, str]:
    """``OBJ:NAME`` items -> {object id: class name}."""
    out: dict[int, str] = {}
    for text in items:
        obj, sep, name = text.partition(":")
        if not sep or not name.strip():
            raise PromptError(f"--label {text}: expected OBJ:NAME, e.g. 1:person")
        _, oid = _frame_obj("0", obj, f"--label {text}")
        out[oid] = name.strip()
    return out


def prompts_from_args(args: argparse.Namespace) -> ParsedPrompts:
    """All prompts given on the command line, with class labels attached."""
    prompts = [parse_point(t) for t in args.point or []]
    prompts += [parse_point(t, positive=False) for t in args.neg_point or []]
    prompts += [parse_box(t) for t in args.box or []]
    notes = []
    for t in args.mask or []:
        more, note = parse_mask(t)
        prompts += more
        if note:
            notes.append(note)
    if not prompts:
        raise PromptError("no prompts: give at least one --point, --box or --mask")
    labels = parse_labels(args.label or [])
    unknown = sorted(set(labels) - {p.object_id for p in prompts})
    if unknown:
        raise PromptError(f"--label names object(s) {unknown} that have no prompt")
    return ParsedPrompts(tuple(replace(p, label=labels.get(p.object_id)) for p in prompts), tuple(notes))


def check_prompts(prompts: Sequence[Prompt], num_frames: int, size: Sequence[int]) -> list[Prompt]:
    """Validate against the video (frames 0..num_frames-1, size (H, W)) and merge
    the prompts of one object on one frame; before any model is loaded."""
    from operators.prompts import merge_prompts

    return merge_prompts(prompts, num_frames, size, max_object_id=MAX_OBJECT_ID)

__all__ = ["MAX_OBJECT_ID", "ParsedPrompts", "check_prompts", "parse_box", "parse_labels", "parse_mask",
           "parse_point", "prompts_from_args"]

"""DAVIS-style label PNGs: the one reader, writer and palette of every command.

A label PNG holds one integer per pixel: 0 = background, 1..255 = object id
(in DAVIS ground truth 255 is *void*, "do not score"). tam-label writes them
as indexed (palette) PNGs with the DAVIS/PASCAL VOC palette, atomically.

Two readers:
- :func:`read_labels` for files whose values *are* ids (``tam-label eval``,
  the PNGs ``tam-label track`` wrote): palette or grayscale, nothing guessed.
- :func:`read_mask_prompt` for a mask a person supplies as a prompt: also
  accepts the common 0/255 black-and-white mask (read as object 1, with a
  note: 255 is never taken as object 255 = void), and refuses anti-aliased
  masks (smoothed edges with many grey values) with a one-line explanation
  instead of turning the grey values into objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tam_core.errors import TamError

VOID = 255
ID_MODES = ("P", "L", "1", "I", "I;16")
# A grayscale mask with more distinct non-zero values than this is not a
# hand-made id map (those have a few objects); it is an image or anti-aliased.
MAX_GRAY_IDS = 32


class LabelImageError(TamError):
    """A label PNG cannot be read or its values are not object ids."""


@dataclass(frozen=True)
class MaskPrompt:
    """A mask prompt read from a file. labels: uint8 [H,W] object ids (0 =
    background); note: one line telling how the file was interpreted, or None."""

    labels: np.ndarray
    note: str | None = None

    @property
    def object_ids(self) -> list[int]:
        return [int(v) for v in np.unique(self.labels) if v != 0]


def davis_palette() -> list[int]:
    """The 256-color palette of DAVIS/PASCAL VOC masks (flat [r,g,b,...])."""
    pal = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal += [r, g, b]
    return pal


def _open(path: str | Path, what: str):
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except FileNotFoundError:
        raise LabelImageError(f"{what}: file not found: {path}") from None
    except IsADirectoryError:
        raise LabelImageError(f"{what}: {path} is a folder, not a PNG file") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise LabelImageError(f"{what}: cannot read {path} as an image ({exc})") from None
    return img


def read_labels(path: str | Path, what: str = "label image") -> np.ndarray:
    """Object ids of an indexed (palette) or grayscale PNG: uint8 [H,W] for
    8-bit images, int32 [H,W] for 16/32-bit grayscale. Values are taken as they
    are (255 stays 255: the caller decides whether it is void)."""
    with _open(path, what) as img:
        if img.mode not in ID_MODES:
            raise LabelImageError(
                f"{what}: {path} is a {img.mode} image; label PNGs must be indexed (palette) or grayscale, "
                "pixel value = object id"
            )
        arr = np.asarray(img)
    return arr.astype(np.uint8) if arr.dtype in (np.bool_, np.uint8) else arr.astype(np.int32)


def read_mask_prompt(path: str | Path, what: str = "mask") -> MaskPrompt:
    """A mask prompt file -> object ids uint8 [H,W] and how it was read.

    - palette PNG: values are ids; 255 is DAVIS void and is ignored (noted);
    - grayscale with only 0 and 255 (or a 1-bit image): one object, id 1 (noted);
    - grayscale with 255 and other grey values, or with more than
      ``MAX_GRAY_IDS`` values: refused as anti-aliased / not an id map;
    - other grayscale: values are ids.
    Raises :class:`LabelImageError` (one line) for anything else.
    """
    with _open(path, what) as img:
        mode = img.mode
        if mode not in ("P", "L", "1"):
            raise LabelImageError(
                f"{what}: {path} is a {mode} image; give an indexed (palette) PNG whose values are object ids, "
                "or a black-and-white mask (0 and 255) for one object"
            )
        labels = np.asarray(img).astype(np.uint8)
    values = [int(v) for v in np.unique(labels) if v != 0]
    if mode == "1" or (mode == "L" and values == [VOID]):
        ids = np.where(labels != 0, 1, 0).astype(np.uint8)
        return MaskPrompt(ids, f"{what}: {path} is a black-and-white mask; read as one object, id 1")
    if mode == "L" and VOID in values:
        grey = len(values) - 1
        raise LabelImageError(
            f"{what}: {path} has 0, 255 and {grey} grey value(s) in between: an anti-aliased (smoothed) mask; "
            "save it without anti-aliasing (only 0 and 255), or as an indexed PNG whose values are object ids"
        )
    if mode == "L" and len(values) > MAX_GRAY_IDS:
        raise LabelImageError(
            f"{what}: {path} has {len(values)} different grey values, so it is not a mask of object ids; "
            "give an indexed PNG whose values are object ids, or a black-and-white mask (0 and 255)"
        )
    if VOID in values:  # palette image: DAVIS void
        labels = np.where(labels == VOID, 0, labels).astype(np.uint8)
        return MaskPrompt(labels, f"{what}: {path}: value 255 is DAVIS void (not an object); ignored")
    return MaskPrompt(labels)


def write_labels(path: str | Path, labels: np.ndarray, fsync: bool = False) -> None:
    """Write uint8 [H,W] ids as a DAVIS palette PNG, atomically: a temporary
    file renamed into place, so ``path`` is always absent or complete.
    fsync: flush the file to disk before the rename (durable against power loss)."""
    from PIL import Image

    path = Path(path)
    arr = np.asarray(labels)
    if arr.ndim != 2 or (arr.size and (arr.min() < 0 or arr.max() > 255)):
        raise LabelImageError(f"cannot write {path}: labels must be [H,W] ids 0..255, got shape {arr.shape}")
    img = Image.fromarray(np.ascontiguousarray(arr, dtype=np.uint8), mode="P")
    img.putpalette(davis_palette())
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        img.save(fh, format="PNG")
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


__all__ = ["LabelImageError", "MaskPrompt", "VOID", "davis_palette", "read_labels", "read_mask_prompt", "write_labels"]

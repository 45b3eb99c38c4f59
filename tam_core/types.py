"""The small set of types every layer shares.

Arrays at this boundary are numpy; shapes and dtypes are given in brackets:
``uint8 [H,W,3]`` is an RGB frame, ``bool [H,W]`` a mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Prompt:
    """One object's prompt on one frame (a keyframe of that object).

    points: float [N,2] pixel (x, y); point_labels: int [N], 1 positive / 0 negative;
    box: float [4] (x0, y0, x1, y1) in pixels; mask: bool [H,W].
    Any combination may be given; at least one of them must be.
    """

    frame: int
    object_id: int
    label: str | None = None
    points: np.ndarray | None = None
    point_labels: np.ndarray | None = None
    box: np.ndarray | None = None
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class FrameResult:
    """Tracking output for some objects on one frame.

    A frame may be yielded more than once during one propagation (e.g. once by
    the forward and once by the backward pass, for different objects): consumers
    replace the masks of exactly the objects listed in ``object_ids`` on that
    frame and leave the others alone. An object listed with an all-False mask is
    absent on that frame.

    masks: object id -> bool [H,W]; quality: object id -> score in [0,1];
    refined: ids whose mask came from SAM refinement.
    """

    frame: int
    object_ids: tuple[int, ...]
    masks: Mapping[int, np.ndarray]
    quality: Mapping[int, float]
    refined: frozenset[int] = field(default_factory=frozenset)


@dataclass(frozen=True)
class SegmenterOutput:
    """Result of one segmenter prompt.

    mask: bool [H,W]; iou: the model's predicted IoU of that mask;
    low_res_logits: the segmenter's own mask prompt layout (float32 [1,256,256]
    for official SAM), reusable as the next prompt's ``mask_input``.
    """

    mask: np.ndarray
    iou: float
    low_res_logits: np.ndarray


class ImageEmbedding(Protocol):
    """A segmenter's embedding of one image (e.g. ``tam_core.segmenters.sam.SamEmbedding``);
    opaque except for the size of the image it was made from."""

    @property
    def original_size(self) -> tuple[int, int]:
        """(H, W) of the embedded image."""


@runtime_checkable
class Segmenter(Protocol):
    """Promptable single-image segmenter (one family of ``tam_core.segmenters``,
    or a test double).

    Every call carries its state: ``embed`` makes an image's embedding (the
    expensive step), ``predict`` prompts a given embedding (cheap, any number of
    times). A segmenter keeps no "current image" or other per-call state: one
    loaded segmenter is shared by every thread of a process. Callers that
    re-prompt a frame keep its embedding themselves
    (``tam_core.segmenters.cache.EmbeddingCache``).
    """

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        """image: uint8 [H,W,3] RGB -> its embedding (the expensive step)."""

    def predict(
        self,
        embedding: ImageEmbedding,
        points: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
        box: np.ndarray | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> SegmenterOutput:
        """Prompt ``embedding`` (from this segmenter's ``embed``). points: float
        [N,2] pixel (x, y); point_labels: int [N]; box: float [4]; mask_input:
        this family's low-res logits (``mask_to_logits``). With ``multimask``
        the best of the candidates by predicted IoU is returned."""

    def mask_to_logits(self, mask: np.ndarray) -> np.ndarray:
        """bool [H,W] -> a mask prompt in this segmenter's own low-res layout
        (``mask_input`` of ``predict``; float32 [1,256,256] for official SAM)."""


@dataclass(frozen=True, eq=False)
class ObjectProbs(Mapping[int, np.ndarray]):
    """One frame's tracker output: object id -> float32 [H,W] probability.

    A read-only mapping keyed by object id, so no consumer works out a channel
    from a position. ``stacked`` is the same data as one array float32
    [K+1,H,W]: row 0 the background, row i+1 the object ``object_ids[i]``
    (the probabilities sum to 1 over the rows at every pixel).
    """

    object_ids: tuple[int, ...]
    stacked: np.ndarray
    _row: dict[int, int] = field(init=False, repr=False)  # object id -> row of ``stacked``

    def __post_init__(self) -> None:
        ids = tuple(int(o) for o in self.object_ids)
        if len(set(ids)) != len(ids):
            raise ValueError(f"object ids must be unique, got {list(ids)}")
        if self.stacked.ndim != 3 or self.stacked.shape[0] != len(ids) + 1:
            raise ValueError(f"stacked has shape {tuple(self.stacked.shape)}, expected ({len(ids) + 1}, H, W) "
                             f"for background and {len(ids)} objects")
        object.__setattr__(self, "object_ids", ids)
        object.__setattr__(self, "_row", {o: i + 1 for i, o in enumerate(ids)})

    def __getitem__(self, object_id: int) -> np.ndarray:
        return self.stacked[self._row[object_id]]

    def __iter__(self) -> Iterator[int]:
        return iter(self.object_ids)

    def __len__(self) -> int:
        return len(self.object_ids)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ObjectProbs) and self.object_ids == other.object_ids
                and np.array_equal(self.stacked, other.stacked))

    __hash__ = None  # type: ignore[assignment]

    @property
    def background(self) -> np.ndarray:
        """float32 [H,W] probability of no object."""
        return self.stacked[0]

    def label_map(self) -> np.ndarray:
        """int64 [H,W]: the most probable object's id at each pixel, 0 for background."""
        return np.asarray((0, *self.object_ids), np.int64)[self.stacked.argmax(0)]

    def hard_masks(self) -> dict[int, np.ndarray]:
        """object id -> bool [H,W] where that object is the most probable (disjoint)."""
        labels = self.label_map()
        return {o: labels == o for o in self.object_ids}

    def restrict(self, object_ids: Iterable[int]) -> "ObjectProbs":
        """Only ``object_ids`` (in that order); the other objects' probability
        is added to the background, so the rows still sum to 1."""
        keep = [int(o) for o in object_ids]
        out = self.stacked[[0, *(self._row[o] for o in keep)]].copy()
        others = [r for o, r in self._row.items() if o not in keep]
        if others:
            out[0] += self.stacked[others].sum(0)
        return ObjectProbs(tuple(keep), out)


@runtime_checkable
class Tracker(Protocol):
    """One video's propagation state (tam_core.trackers.xmem.XMemTracker, or a double).

    Objects have integer ids >= 1. Frames are fed in the order they are to be
    tracked (a backward pass simply feeds them in reverse).
    """

    @property
    def object_ids(self) -> list[int]:
        """Known object ids (the keys of ``step``'s output)."""

    def step(
        self,
        image: np.ndarray,
        masks: Mapping[int, np.ndarray] | None = None,
        end: bool = False,
    ) -> ObjectProbs:
        """Track one frame.

        image: uint8 [H,W,3]. masks: object id -> bool [H,W] given on this frame
        (new objects, or a correction of known ones); objects not in ``masks``
        are predicted from memory. ``end`` marks the last frame of the pass (it
        is not written to memory). Returns every known object's probability,
        keyed by object id (``ObjectProbs``).
        """

    def amend(self, masks: Mapping[int, np.ndarray]) -> ObjectProbs | None:
        """Replace the last stepped frame's result for the given objects with
        these masks (bool [H,W]) and write that frame into memory, so later
        frames follow the amended masks (used by SAM refinement)."""

    def remove_object(self, object_id: int) -> None:
        """Forget an object: its channel, its memory values and hidden state."""

    def reset(self) -> None:
        """Forget everything (objects and memory); the network stays loaded."""


@runtime_checkable
class FrameSource(Protocol):
    """Random and sequential access to a video's frames (lazy decoding)."""

    @property
    def num_frames(self) -> int: ...

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""

    def __getitem__(self, index: int) -> np.ndarray:
        """uint8 [H,W,3] RGB frame ``index`` (0-based)."""

    def iter_frames(self, start: int = 0, stop: int | None = None, reverse: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, uint8 [H,W,3]) for ``start <= index < stop``, in
        increasing order, or decreasing when ``reverse``; decodes lazily."""


def as_bool_mask(mask: np.ndarray, size: Sequence[int], what: str = "mask") -> np.ndarray:
    """Validate a mask against a frame size (H, W) and return it as bool [H,W]."""
    from tam_core.errors import PromptError

    arr = np.asarray(mask)
    if arr.ndim != 2 or tuple(arr.shape) != tuple(size):
        raise PromptError(f"{what} has shape {tuple(arr.shape)}, expected {tuple(size)} (H, W) of the frame")
    return arr.astype(bool, copy=False)

"""SAM 2.1 behind the project's ``Tracker`` contract, streaming through
``transformers`` (``Sam2VideoModel`` + ``Sam2VideoProcessor``, pinned in the
``hf`` extra).

One loaded model is shared (by every thread of a process); each
:class:`Sam2Tracker` is one video pass and owns its inference session. Frames
come one at a time from our readers, never the whole video. The session is
numbered by the pass's own step count, not by the video's frame index: a
backward pass is a forward stream to SAM 2.1, and frame indices are always
explicit and increasing, which :func:`tam_core.trackers.hf_stream.prune_session`
needs to bound memory exactly.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch

from tam_core.errors import PromptError
from tam_core.trackers.aggregate import soft_aggregate
from tam_core.trackers.hf_stream import check_frame, memory_window, prune_session
from tam_core.types import ObjectProbs

_AUTOCAST = {"fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Sam2TrackerFactory:
    """The loaded model and processor; every call starts a fresh pass
    (``config``: the run's XMem settings, which SAM 2.1 does not use)."""

    model: Any
    processor: Any
    device: Any
    autocast: str | None = None

    def __call__(self, config: Any = None) -> "Sam2Tracker":
        return Sam2Tracker(self.model, self.processor, self.device, autocast=self.autocast)


def load_sam2_tracker(folder: Any, device: Any = "cpu", autocast: str | None = None,
                      what: str | None = None) -> Sam2TrackerFactory:
    """A snapshot folder (config.json, model.safetensors, processor files) ->
    a tracker factory, the model loaded strictly on ``device``."""
    from transformers import Sam2VideoModel, Sam2VideoProcessor

    from tam_core.weights.hf_model import load_pretrained_strictly

    model = load_pretrained_strictly(Sam2VideoModel, folder, device, what=what)
    processor = Sam2VideoProcessor.from_pretrained(folder)
    return Sam2TrackerFactory(model, processor, torch.device(device), autocast)


class Sam2Tracker:
    """One video pass of SAM 2.1 (satisfies ``tam_core.types.Tracker``).

    Objects arrive on any frame as masks (``step(image, masks)``): a mask
    given for a known object is a correction (a new conditioning frame).
    ``amend`` replaces the last frame's masks and re-encodes that frame's
    memory; ``remove_object`` forgets an object entirely. ``window``: earlier
    frames kept (None: what the model reads, so pruning changes nothing);
    ``prune=False`` keeps everything (the reference the tests compare with).
    """

    def __init__(self, model: Any, processor: Any, device: Any = "cpu", autocast: str | None = None,
                 window: int | None = None, prune: bool = True):
        self._model = model
        self._proc = processor
        self._device = torch.device(device)
        self._autocast = _AUTOCAST.get(autocast or "")
        self.window = memory_window(model.config) if window is None else int(window)
        self._prune = prune
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        self.session: Any = None
        self._t = -1  # the session's frame index of the last step
        self._size: tuple[int, int] | None = None
        self._pixels: Any = None  # the last frame, preprocessed (for amend)
        self._handle: dict[int, int] = {}  # object id -> the session's id (a new one if an id comes back)
        self._next_handle = 1

    @property
    def object_ids(self) -> list[int]:
        return list(self._handle)

    def remove_object(self, object_id: int) -> None:
        """Forget the object: its inputs, outputs and memory (the session is
        rebuilt with the other objects' state, which SAM 2.1 keeps per object)."""
        handle = self._handle.pop(int(object_id), None)
        if handle is None or self.session is None:
            return
        old = self.session
        new = self._new_session()
        new.processed_frames, new.cache = old.processed_frames, old.cache
        new.video_height, new.video_width = old.video_height, old.video_width
        for kept in old.obj_ids:
            if kept == handle:
                continue
            i, j = old.obj_id_to_idx(kept), new.obj_id_to_idx(kept)
            new.point_inputs_per_obj[j] = old.point_inputs_per_obj[i]
            new.mask_inputs_per_obj[j] = old.mask_inputs_per_obj[i]
            new.output_dict_per_obj[j] = old.output_dict_per_obj[i]
            new.frames_tracked_per_obj[j] = old.frames_tracked_per_obj[i]
        new.obj_with_new_inputs = [o for o in old.obj_with_new_inputs if o != handle]
        self.session = new

    # ------------------------------------------------------------------ tracking
    def step(self, image: np.ndarray, masks: Mapping[int, np.ndarray] | None = None,
             end: bool = False) -> ObjectProbs:
        """image: uint8 [H,W,3]; masks: object id -> bool [H,W] given on this frame.
        Returns every known object's probability (``ObjectProbs``). ``end``: the
        pass's last frame (its memory is not encoded unless ``amend`` asks)."""
        image, self._size = check_frame(image, self._size)
        if self.session is None:
            self.session = self._new_session()
        self._t += 1
        inputs = self._proc(images=image, return_tensors="pt")
        self._pixels = inputs.pixel_values[0].to(self._device)
        if masks:
            self._add_masks(masks)
        if not self._handle:
            self.session.add_new_frame(self._pixels, self._t)
            self._pruned()
            return ObjectProbs((), np.ones((1, *self._size), np.float32))
        with self._precision():
            out = self._model(inference_session=self.session, frame=self._pixels, frame_idx=self._t,
                              run_mem_encoder=not end)
        self._pruned()
        return self._probs(out)

    def amend(self, masks: Mapping[int, np.ndarray]) -> ObjectProbs | None:
        """Replace the last stepped frame's masks of these objects and encode
        that frame into memory with them (refinement / correction feedback)."""
        if self.session is None or self._t < 0:
            raise PromptError("amend needs a frame tracked first")
        masks = {int(o): m for o, m in masks.items()}
        unknown = [o for o in masks if o not in self._handle]
        if unknown:
            raise PromptError(f"amend: unknown object ids {unknown} (known: {self.object_ids})")
        if not masks:
            return None
        self._add_masks(masks)
        with self._precision():
            # the frame again (its features are cached): a streamed step, which reads
            # memory the same way whether or not older frames were pruned
            out = self._model(inference_session=self.session, frame=self._pixels, frame_idx=self._t)
        return self._probs(out)

    # ------------------------------------------------------------------ helpers
    def _new_session(self) -> Any:
        return self._proc.init_video_session(inference_device=self._device, dtype=torch.float32)

    def _add_masks(self, masks: Mapping[int, np.ndarray]) -> None:
        handles, planes = [], []
        for oid, mask in sorted(masks.items()):
            mask = np.asarray(mask, bool)
            if mask.shape != self._size:
                raise PromptError(f"mask of object {oid} is {mask.shape}, the frame is {self._size}")
            oid = int(oid)
            if oid not in self._handle:
                self._handle[oid] = self._next_handle
                self._next_handle += 1
            handles.append(self._handle[oid])
            planes.append(mask)
        self._proc.add_inputs_to_inference_session(self.session, frame_idx=self._t, obj_ids=handles,
                                                   input_masks=planes, original_size=self._size)

    def _pruned(self) -> None:
        if self._prune:
            prune_session(self.session, self._t, self.window)

    def _precision(self):
        if self._autocast is None or self._device.type != "cuda":
            return nullcontext()
        return torch.autocast("cuda", dtype=self._autocast)

    def _probs(self, out: Any) -> ObjectProbs:
        logits = self._proc.post_process_masks([out.pred_masks.float()], [list(self._size)], binarize=False)[0]
        row = {h: i for i, h in enumerate(out.object_ids)}
        ids = self.object_ids
        prob = torch.sigmoid(logits[[row[self._handle[o]] for o in ids], 0].float())
        return ObjectProbs(tuple(ids), soft_aggregate(prob).cpu().numpy().astype(np.float32))


__all__ = ["Sam2Tracker", "Sam2TrackerFactory", "load_sam2_tracker"]

"""SAM 3 concept prompts, streaming through ``transformers``
(``Sam3VideoModel`` + ``Sam3VideoProcessor``).

One loaded model is shared (by every thread of a process); each
:class:`ConceptTracker` is one video pass and owns its inference session,
numbered by the pass's own step count (explicit, increasing frame indices).
The session keeps every frame and output; the tracker prunes what no later
step reads (:func:`prune_concept_session`), so memory stays flat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from tam_core.concepts.prompt import ConceptPrompt
from tam_core.errors import PromptError
from tam_core.trackers.hf_stream import check_frame, memory_window, prune_session


@dataclass(frozen=True)
class FoundObject:
    """One object found on a frame: id (stable over the pass), label, phrase, score, bool mask [H,W]."""

    object_id: int
    label: str
    phrase: str
    score: float
    mask: np.ndarray


@dataclass(frozen=True)
class ConceptTrackerFactory:
    model: Any
    processor: Any
    device: Any

    def __call__(self, prompt: ConceptPrompt, **kw: Any) -> "ConceptTracker":
        return ConceptTracker(self.model, self.processor, prompt, self.device, **kw)


def load_concept_tracker(folder: Any, device: Any = "cpu", what: str | None = None) -> ConceptTrackerFactory:
    """A snapshot folder -> a tracker factory, the model loaded strictly on ``device``."""
    from transformers import Sam3VideoModel, Sam3VideoProcessor

    from tam_core.weights.hf_model import load_pretrained_strictly

    from .postprocess import install

    install()  # NMS, hole filling and sprinkle removal as Meta's SAM 3 does them, also without Hub kernels
    model = load_pretrained_strictly(Sam3VideoModel, folder, device, what=what)
    return ConceptTrackerFactory(model, Sam3VideoProcessor.from_pretrained(folder), torch.device(device))


class SeenFrames(dict):
    """The session's processed frames, whose length stays the number of frames
    seen after old ones are dropped: SAM 3 reads ``len(processed_frames)`` as
    the video's length (how many object pointers a step uses), so pruning
    must not change it."""

    seen = 0

    def __setitem__(self, frame_idx: int, pixels: Any) -> None:
        super().__setitem__(frame_idx, pixels)
        self.seen = max(self.seen, int(frame_idx) + 1)

    def __len__(self) -> int:
        return self.seen

    @property
    def held(self) -> int:
        return dict.__len__(self)


def concept_window(config: Any) -> int:
    """Earlier frames a step reads: the tracker's memory, and the detector's
    hot-start and reconditioning bookkeeping."""
    return max(memory_window(config.tracker_config), int(config.hotstart_delay), 1)


def prune_concept_session(session: Any, frame_idx: int, window: int) -> None:
    """:func:`prune_session` plus SAM 3's per-frame bookkeeping. Processed
    frames are kept for the window (not only the current one, as for SAM 2.1:
    a cautious choice, not shown necessary); the session's frame count must
    stay the number seen (:class:`SeenFrames`)."""
    frames, session.processed_frames = session.processed_frames, None
    try:
        prune_session(session, frame_idx, window)
    finally:
        session.processed_frames = frames
    oldest = frame_idx - window
    if frames:
        for k in [k for k in list(frames.keys()) if k < oldest]:
            del frames[k]
    for scores in session.obj_id_to_tracker_score_frame_wise.values():
        for k in [k for k in scores if k < oldest]:
            del scores[k]
    for k in [k for k in session.suppressed_obj_ids if k < oldest]:
        del session.suppressed_obj_ids[k]
    for marks in (session.unmatched_frame_inds, session.overlap_pair_to_frame_inds):
        for key, frames in marks.items():
            frames[:] = [f for f in frames if f >= oldest]
        for key in [k for k, v in marks.items() if not v]:
            del marks[key]


def concept_kept(session: Any) -> tuple[int, int]:
    """(processed frames held, per-frame entries held over all objects and bookkeeping)."""
    kept = session.processed_frames
    frames = kept.held if isinstance(kept, SeenFrames) else len(kept or {})
    held = sum(len(o["non_cond_frame_outputs"]) for o in session.output_dict_per_obj.values())
    held += sum(len(v) for v in session.obj_id_to_tracker_score_frame_wise.values())
    held += len(session.suppressed_obj_ids)
    held += sum(len(v) for v in session.unmatched_frame_inds.values())
    held += sum(len(v) for v in session.overlap_pair_to_frame_inds.values())
    return frames, held


class ConceptTracker:
    """One video pass: ``step(image) -> [FoundObject]`` (ids stable across frames).

    ``window``: earlier frames kept (None: what the model reads); ``prune=False``
    keeps everything (the reference the tests compare with)."""

    def __init__(self, model: Any, processor: Any, prompt: ConceptPrompt, device: Any = "cpu",
                 window: int | None = None, prune: bool = True):
        if not isinstance(prompt, ConceptPrompt):
            raise PromptError(f"a ConceptTracker needs a ConceptPrompt, got {type(prompt).__name__}")
        self._model, self._proc, self.prompt = model, processor, prompt
        self._device = torch.device(device)
        self.window = concept_window(model.config) if window is None else int(window)
        self._prune = prune
        self.session = processor.init_video_session(inference_device=self._device, dtype=torch.float32)
        self.session.processed_frames = SeenFrames()
        processor.add_text_prompt(self.session, list(prompt.phrases))
        self._t = -1
        self._size: tuple[int, int] | None = None

    def step(self, image: np.ndarray) -> list[FoundObject]:
        image, self._size = check_frame(image, self._size)
        self._t += 1
        inputs = self._proc(images=image, return_tensors="pt")
        with torch.inference_mode():
            out = self._model(inference_session=self.session, frame=inputs.pixel_values[0].to(self._device),
                              frame_idx=self._t)
            res = self._proc.postprocess_outputs(self.session, out, original_sizes=[list(self._size)])
        if self._prune:
            prune_concept_session(self.session, self._t, self.window)
        phrase_of = {int(o): p for p, ids in res.get("prompt_to_obj_ids", {}).items() for o in ids}
        found = []
        for oid, score, mask in zip(res["object_ids"].tolist(), res["scores"].tolist(), res["masks"]):
            if score < self.prompt.threshold or int(oid) not in phrase_of:
                continue
            phrase = phrase_of[int(oid)]
            found.append(FoundObject(int(oid), self.prompt.label_of(phrase), phrase, float(score),
                                     mask.cpu().numpy().astype(bool)))
        return found


__all__ = ["ConceptTracker", "ConceptTrackerFactory", "FoundObject", "concept_kept", "concept_window",
           "load_concept_tracker", "prune_concept_session"]

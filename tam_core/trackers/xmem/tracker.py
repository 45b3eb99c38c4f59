"""One video's XMem propagation state, kept apart from the network."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from tam_core.errors import ConfigError, PromptError, TamError
from tam_core.trackers.aggregate import soft_aggregate
from tam_core.types import ObjectProbs
from .config import XMemConfig
from .memory import MemoryManager
from .network import XMemNetwork
from .objects import ObjectManager

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)
_AUTOCAST = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}


def pad_amounts(h: int, w: int) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding to multiples of 16, split as the original."""
    ph = (16 - h % 16) % 16
    pw = (16 - w % 16) % 16
    return ph // 2, ph - ph // 2, pw // 2, pw - pw // 2


def _rekey(rows: torch.Tensor, old: tuple[int, ...], new: tuple[int, ...]) -> torch.Tensor:
    """Per-object ``rows`` [len(old),...] (row i for object ``old[i]``) -> rows
    for ``new``: each known object keeps its row, an unknown one gets zeros."""
    if new[: len(old)] == old:  # objects appended (the usual case): unchanged rows first
        if len(new) == len(old):
            return rows
        return torch.cat([rows, rows.new_zeros(len(new) - len(old), *rows.shape[1:])], 0)
    at = {o: i for i, o in enumerate(old)}
    if all(o in at for o in new):
        return rows[[at[o] for o in new]]
    out = rows.new_zeros(len(new), *rows.shape[1:])
    for i, o in enumerate(new):
        if o in at:
            out[i] = rows[at[o]]
    return out


@dataclass
class _Frame:
    """The last stepped frame, kept until the next step so it can be amended
    before it is written into memory."""

    t: int
    image: torch.Tensor  # [1,3,H,W] padded
    f16: torch.Tensor
    key: torch.Tensor  # [1,CK,h,w]
    shrinkage: torch.Tensor | None
    selection: torch.Tensor | None
    probs: torch.Tensor  # [n+1,H,W] padded
    write: bool
    deep: bool
    end: bool


class XMemTracker:
    """XMem inference over one video pass (satisfies ``tam_core.types.Tracker``).

    ``network`` is shared and never modified; everything about the video lives
    here. Feed frames in tracking order with :meth:`step`; give masks for new
    objects (or corrections of known ones) on any frame.

    Per-object tensors (hidden state, probabilities) are in the channel order
    of ``objects`` (``object_manager``, the one owner of id <-> channel); when
    it changes they are re-keyed by id, and the memory is asked by id, so
    nothing relies on the order objects arrived or left in.

    device: where to run (defaults to the network's device).
    autocast_dtype: None (fp32), "fp16" or "bf16" — CUDA autocast inside this
    tracker's calls only; no global switch is flipped.
    """

    object_manager = ObjectManager  # builds the id <-> channel owner of each pass

    def __init__(
        self,
        network: XMemNetwork,
        config: XMemConfig | None = None,
        device: str | torch.device | None = None,
        autocast_dtype: str | None = None,
    ):
        self.network = network
        self.config = config or XMemConfig()
        self.device = torch.device(device) if device is not None else next(network.parameters()).device
        if autocast_dtype in (None, "fp32", "float32"):
            self._autocast = None
        elif autocast_dtype in _AUTOCAST:
            if self.device.type != "cuda":
                raise ConfigError(f"autocast {autocast_dtype!r} needs a CUDA device; on {self.device.type} use fp32")
            self._autocast = _AUTOCAST[autocast_dtype]
        else:
            raise ConfigError(f"unknown autocast dtype {autocast_dtype!r}: use fp32, fp16 or bf16")
        self._mean = torch.tensor(_MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(_STD, device=self.device).view(1, 3, 1, 1)
        self.reset()

    # -- state

    def reset(self) -> None:
        self.memory = MemoryManager(self.config)
        self.objects = self.object_manager()  # the one owner of object id <-> channel
        self._hidden: torch.Tensor | None = None  # [n,Ch,h,w]
        self._t = -1
        self._last_mem = 0
        self._last_deep = -self.config.deep_update_every
        self._frame: _Frame | None = None
        self._size: tuple[int, int] | None = None
        self._ended = False

    @property
    def object_ids(self) -> list[int]:
        return list(self.objects.ids)

    @property
    def frames_seen(self) -> int:
        return self._t + 1

    # -- public steps

    def step(self, image: np.ndarray, masks: Mapping[int, np.ndarray] | None = None, end: bool = False) -> ObjectProbs:
        """image uint8 [H,W,3]; masks id -> bool/float [H,W]; returns every
        known object's probability float32 [H,W], keyed by object id."""
        with torch.inference_mode(), self._autocast_ctx():
            return self._output(self._step(image, masks or {}, end))

    def amend(self, masks: Mapping[int, np.ndarray]) -> ObjectProbs:
        """Replace the last frame's result for some objects and memorise that frame.

        Returns the amended probabilities, keyed by object id.
        """
        if self._frame is None:
            raise TamError("amend() needs a frame: call step() first")
        unknown = [o for o in masks if o not in self.objects]
        if unknown:
            raise PromptError(f"amend(): unknown object id(s) {unknown}; known: {list(self.objects.ids)}")
        with torch.inference_mode(), self._autocast_ctx():
            fr = self._frame
            given = {o: self._pad_mask(m) for o, m in masks.items()}
            fr.probs = self._merge(fr.probs[1:], self.objects.ids, given)
            if not fr.end:
                fr.write = True
                fr.deep = self.config.deep_update_every < 0 or fr.deep
                if fr.shrinkage is None:
                    fr.shrinkage = self.network.key_proj.d_proj(fr.f16) ** 2 + 1
                self._last_mem = fr.t
            return self._output(fr.probs)

    def commit(self) -> None:
        """Write the last frame into memory now (normally deferred to the next
        step so that it can still be amended)."""
        with torch.inference_mode(), self._autocast_ctx():
            self._flush()

    def remove_object(self, object_id: int) -> None:
        old = self.objects.ids
        self.objects.remove(object_id)
        self.memory.remove_object(object_id)
        new = self.objects.ids
        if self._hidden is not None:
            self._hidden = _rekey(self._hidden, old, new) if new else None
        if self._frame is not None:
            fr = self._frame
            fr.probs = soft_aggregate(_rekey(fr.probs[1:], old, new)) if new else fr.probs[:1].clone().fill_(1.0)
            fr.write = fr.write and bool(new)  # nothing left to memorise from that frame

    # -- internals

    @staticmethod
    def _put_rows(dest: torch.Tensor, rows: list[int], src: torch.Tensor, prefix: bool) -> torch.Tensor:
        """``dest`` with ``src``'s rows at the channels ``rows`` (a new tensor);
        ``prefix``: ``rows`` are 0..n-1."""
        if prefix:
            return torch.cat([src, dest[len(rows) :]], 0)
        dtype = torch.promote_types(dest.dtype, src.dtype)
        index = torch.tensor(rows, device=dest.device, dtype=torch.long)
        return dest.to(dtype).index_copy(0, index, src.to(dtype))

    def _autocast_ctx(self):
        if self._autocast is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self._autocast)

    def _prepare(self, image: np.ndarray) -> torch.Tensor:
        arr = np.asarray(image)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ConfigError(f"frames must be uint8 [H,W,3] RGB, got {arr.dtype} {arr.shape}")
        if self._size is None:
            self._size = arr.shape[:2]
            self._pad = pad_amounts(*self._size)
        elif arr.shape[:2] != self._size:
            raise ConfigError(f"frame size changed from {self._size} to {arr.shape[:2]} within one video")
        # torch.tensor copies: decoded frames are often read-only views
        x = torch.tensor(arr, device=self.device).permute(2, 0, 1).unsqueeze(0).float()
        x = (x / 255 - self._mean) / self._std
        top, bottom, left, right = self._pad
        return F.pad(x, (left, right, top, bottom))

    def _pad_mask(self, mask: np.ndarray) -> torch.Tensor:
        m = np.asarray(mask)
        if m.shape != tuple(self._size):
            raise PromptError(f"mask shape {m.shape} does not match the frame size {tuple(self._size)}")
        t = torch.tensor(m, dtype=torch.float32, device=self.device)
        top, bottom, left, right = self._pad
        return F.pad(t, (left, right, top, bottom))

    def _output(self, probs: torch.Tensor) -> ObjectProbs:
        """Padded [K+1,H,W] probabilities (channel order) -> cropped, keyed by object id."""
        top, bottom, left, right = self._pad
        h, w = probs.shape[-2:]
        return self.objects.to_probs(probs[:, top : h - bottom, left : w - right].float().cpu().numpy())

    def _merge(self, pred: torch.Tensor | None, pred_ids: tuple[int, ...],
               given: dict[int, torch.Tensor]) -> torch.Tensor:
        """Object maps for every known object, in channel order: given masks
        where given, else the prediction (``pred`` [n,H,W], row i for
        ``pred_ids[i]``) zeroed under the given masks, else nothing; then
        soft-aggregated."""
        ref = next(iter(given.values()))
        covered = torch.stack(list(given.values())).sum(0) > 0.5
        row = {o: i for i, o in enumerate(pred_ids)} if pred is not None else {}
        maps = []
        for o in self.objects.ids:
            if o in given:
                maps.append(given[o].to(ref.dtype))
            elif o in row:
                maps.append(pred[row[o]].masked_fill(covered, 0).to(ref.dtype))
            else:
                maps.append(torch.zeros_like(ref))
        return soft_aggregate(torch.stack(maps))

    def _flush(self) -> None:
        """Write the previous frame into memory (deferred so it can be amended)."""
        fr, self._frame = self._frame, None
        if fr is None or not fr.write:
            return
        net = self.network
        v, h = net.value_encoder(fr.image, fr.f16, self._hidden, fr.probs[1:].to(fr.image.dtype), fr.deep)
        n = v.shape[0]
        key = fr.key[0].flatten(1)
        shrink = fr.shrinkage[0].flatten()
        sel = fr.selection[0].flatten(1) if fr.selection is not None else None
        self.memory.add(key, shrink, sel, v.reshape(n, v.shape[1], -1), list(self.objects.ids))
        if fr.deep:
            self._hidden = h
            self._last_deep = fr.t

    def _step(self, image: np.ndarray, masks: Mapping[int, np.ndarray], end: bool) -> torch.Tensor:
        if self._ended:
            raise TamError("this tracker pass has ended (end=True was given); call reset() to start a new pass")
        img = self._prepare(image)
        self._flush()
        self._t += 1
        t, cfg, net = self._t, self.config, self.network
        given = {int(o): self._pad_mask(m) for o, m in masks.items()}

        mem = (t - self._last_mem >= cfg.mem_every or bool(given)) and not end
        if cfg.deep_update_every < 0:
            deep, normal = mem, not mem and not end
        else:
            deep, normal = (t - self._last_deep >= cfg.deep_update_every) and not end, not end
        # objects with memory, in channel order (the ObjectManager's; the memory answers by id)
        memorised = [o for o in self.objects.ids if o in self.memory]
        segment = not self.memory.is_empty() and any(o not in given for o in memorised)

        key, shrinkage, selection, f16, f8, f4 = net.encode_key(img, mem, cfg.enable_long_term or segment)

        pred = seg_probs = None
        pred_ids = self.objects.ids  # the channels ``pred`` is in
        if segment:
            _, ck, h, w = key.shape
            qe = selection[0].flatten(1) if selection is not None else None
            readout = self.memory.read(key[0].flatten(1), qe, memorised)
            readout = readout.view(readout.shape[0], -1, h, w).to(f16.dtype)
            channels = [self.objects.channel(o) for o in memorised]
            prefix = channels == list(range(len(channels)))  # always so today; the general case below
            hidden = self._hidden[: len(channels)] if prefix else self._hidden[channels]
            new_h, logits = net.decoder(f16, f8, f4, hidden, readout, normal)
            if normal:
                self._hidden = self._put_rows(self._hidden, channels, new_h, prefix)
            seg = torch.sigmoid(logits.float())
            if len(channels) < len(self.objects):  # objects without memory yet: no prediction
                seg = self._put_rows(seg.new_zeros(len(self.objects), *seg.shape[1:]), channels, seg, False)
            seg_probs = soft_aggregate(seg)
            pred = seg_probs[1:]

        new_ids = self.objects.add(given)
        if new_ids:  # a new object's hidden state starts at zero
            _, _, h, w = key.shape
            if self._hidden is None:
                self._hidden = torch.zeros(len(self.objects), net.hidden_dim, h, w, device=self.device, dtype=f16.dtype)
            else:
                self._hidden = _rekey(self._hidden, pred_ids, self.objects.ids)

        if given:
            probs = self._merge(pred, pred_ids, given)
        elif seg_probs is not None:
            probs = seg_probs
        else:  # nothing known yet: all background
            hp, wp = img.shape[-2:]
            probs = torch.ones(1, hp, wp, device=self.device)

        if mem and not len(self.objects):
            mem = False  # nothing to memorise
        if mem:
            self._last_mem = t
        self._frame = _Frame(t, img, f16, key, shrinkage, selection, probs, mem, deep and mem, end)
        if end:
            self._ended = True
        return probs

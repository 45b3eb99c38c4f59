"""XMem's memory: working memory, long-term memory, read-out, consolidation, eviction.

Notation: ``CK`` key channels, ``CV`` value channels, ``N`` memory elements
(memory frames x h x w, frames in time order, positions row-major), ``HW``
query positions of one frame. Keys are stored as [CK,N], values per *group*
of objects (objects first annotated on the same frame) as [n_g,CV,L_g], where a
group's values align with the *last* L_g keys.

Objects are addressed by id only: ``add`` takes values labelled with their
ids, ``read`` answers for the ids asked, in that order, and ``remove_object``
takes an id. Groups are how values are stored, never positions a caller may
rely on; which object sits in which channel of the tracker is the tracker's
``ObjectManager``'s business alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .config import XMemConfig


def similarity(mk: torch.Tensor, ms: torch.Tensor | None, qk: torch.Tensor, qe: torch.Tensor | None) -> torch.Tensor:
    """Negative selection-weighted squared L2 distance, scaled by shrinkage.

    mk [CK,N], ms [N] or None, qk [CK,Q], qe [CK,Q] or None -> [N,Q].
    """
    ck = mk.shape[0]
    if qe is not None:
        a_sq = mk.pow(2).transpose(0, 1) @ qe
        two_ab = 2 * (mk.transpose(0, 1) @ (qk * qe))
        b_sq = (qe * qk.pow(2)).sum(0, keepdim=True)
        s = -a_sq + two_ab - b_sq
    else:
        s = -mk.pow(2).sum(0).unsqueeze(1) + 2 * (mk.transpose(0, 1) @ qk)
    if ms is not None:
        s = s * ms.unsqueeze(1)
    return s / math.sqrt(ck)


def topk_softmax(s: torch.Tensor, k: int) -> torch.Tensor:
    """Softmax over the ``k`` largest entries of each column of ``s`` [N,Q]; others 0."""
    k = min(k, s.shape[0])
    values, idx = torch.topk(s, k=k, dim=0)
    # The original exponentiates without subtracting the max; subtracting it gives
    # the same affinities (up to rounding) and cannot overflow/underflow to NaN.
    e = torch.exp(values - values[:1])
    e = e / e.sum(dim=0, keepdim=True)
    return torch.zeros_like(s).scatter_(0, idx, e)


def full_softmax(s: torch.Tensor) -> torch.Tensor:
    e = torch.exp(s - s.max(dim=0, keepdim=True).values)
    return e / e.sum(dim=0, keepdim=True)


@dataclass
class Store:
    """Keys/shrinkage(/selection) over all elements, values per group, usage counters."""

    count_usage: bool
    keys: torch.Tensor | None = None  # [CK,N]
    shrinkage: torch.Tensor | None = None  # [N]
    selection: torch.Tensor | None = None  # [CK,N] (working memory only)
    values: list[torch.Tensor] = field(default_factory=list)  # per group [n_g,CV,L_g]
    use_count: torch.Tensor | None = None  # [N]
    life_count: torch.Tensor | None = None  # [N]

    @property
    def size(self) -> int:
        return 0 if self.keys is None else self.keys.shape[1]

    def add(self, keys, shrinkage, selection, values_per_group: list[torch.Tensor]) -> None:
        """Append elements; ``values_per_group[g]`` extends group g (a group this
        store does not have yet is appended as its next group)."""
        n = keys.shape[1]
        fresh_use = torch.zeros(n, device=keys.device, dtype=torch.float32)
        fresh_life = torch.full((n,), 1e-7, device=keys.device, dtype=torch.float32)
        if self.keys is None:
            self.keys, self.shrinkage, self.selection = keys, shrinkage, selection
            self.use_count, self.life_count = fresh_use, fresh_life
        else:
            self.keys = torch.cat([self.keys, keys], 1)
            self.shrinkage = torch.cat([self.shrinkage, shrinkage], 0)
            if selection is not None:
                self.selection = torch.cat([self.selection, selection], 1)
            self.use_count = torch.cat([self.use_count, fresh_use])
            self.life_count = torch.cat([self.life_count, fresh_life])
        for g, v in enumerate(values_per_group):
            if g < len(self.values):
                self.values[g] = torch.cat([self.values[g], v], 2)
            else:
                self.values.append(v)

    def update_usage(self, usage: torch.Tensor) -> None:
        """usage [N] for the last ``len(usage)`` elements; every element ages."""
        if not self.count_usage:
            return
        self.use_count[self.size - usage.shape[0] :] += usage
        self.life_count += 1

    def normalised_usage(self) -> torch.Tensor:
        return self.use_count / self.life_count

    def keep_keys(self, mask: torch.Tensor) -> None:
        """Keep the keys, shrinkage, selection and counters where ``mask`` [N] is True."""
        self.keys = self.keys[:, mask]
        self.shrinkage = self.shrinkage[mask]
        if self.selection is not None:
            self.selection = self.selection[:, mask]
        self.use_count = self.use_count[mask]
        self.life_count = self.life_count[mask]

    def keep(self, mask: torch.Tensor) -> None:
        """Keep elements where ``mask`` [N] is True; each group keeps its own tail."""
        self.keep_keys(mask)
        self.values = [v[:, :, mask[mask.shape[0] - v.shape[2] :]] for v in self.values]

    def remove_objects(self, group: int, keep: list[int]) -> None:
        """Drop objects of one value group; an emptied group is removed, and
        elements no remaining group has values for are dropped too."""
        if group >= len(self.values):
            return
        if keep:
            self.values[group] = self.values[group][keep]
            return
        del self.values[group]
        used = max((v.shape[2] for v in self.values), default=0)
        if used < self.size:
            tail = torch.zeros(self.size, dtype=torch.bool, device=self.keys.device)
            tail[self.size - used :] = True
            self.keep(tail)


class MemoryManager:
    """Working + long-term memory of one tracker (one video pass)."""

    def __init__(self, config: XMemConfig):
        self.config = config
        self.use_long_term = config.enable_long_term
        self.work = Store(count_usage=config.enable_long_term)
        self.long = Store(count_usage=config.enable_long_term and config.enable_long_term_count_usage)
        self.hw: int | None = None
        self.groups: list[list[int]] = []  # object ids per value group (storage only, see the module doc)

    # -- bookkeeping

    @property
    def object_ids(self) -> frozenset[int]:
        """The objects that have memory (unordered: ask ``read`` for an order)."""
        return frozenset(o for g in self.groups for o in g)

    def __contains__(self, object_id: object) -> bool:
        return any(object_id in g for g in self.groups)

    @property
    def work_size(self) -> int:
        return self.work.size

    @property
    def long_size(self) -> int:
        return self.long.size

    def is_empty(self) -> bool:
        return self.work.size == 0

    # -- read

    def read(self, qk: torch.Tensor, qe: torch.Tensor | None, object_ids: Sequence[int]) -> torch.Tensor:
        """qk [CK,HW], qe [CK,HW] or None -> read-out [n,CV,HW], row i for
        ``object_ids[i]`` (each must have memory)."""
        stored = [o for g in self.groups for o in g]
        row = {o: i for i, o in enumerate(stored)}
        missing = [o for o in object_ids if o not in row]
        if missing:
            raise KeyError(f"no memory for object id(s) {missing}; memorised: {sorted(stored)}")
        work, long = self.work, self.long
        lt = self.use_long_term and long.size > 0
        if lt:
            keys = torch.cat([long.keys, work.keys], 1)
            shrink = torch.cat([long.shrinkage, work.shrinkage], 0)
        else:
            keys, shrink = work.keys, work.shrinkage
        s = similarity(keys, shrink, qk, qe)
        n_long = long.size if lt else 0
        outs = []
        for g, wv in enumerate(work.values):
            lv = long.values[g] if lt and g < len(long.values) else None
            w_rows = s[s.shape[0] - wv.shape[2] :]
            if lv is not None:
                l_rows = s[n_long - lv.shape[2] : n_long]
                aff = topk_softmax(torch.cat([l_rows, w_rows], 0), self.config.top_k)
                values = torch.cat([lv, wv], 2)
            else:
                aff = topk_softmax(w_rows, self.config.top_k)
                values = wv
            if g == 0 and self.use_long_term:
                usage = aff.sum(dim=1)
                if lv is not None:
                    long.update_usage(usage[: lv.shape[2]])
                    work.update_usage(usage[lv.shape[2] :])
                else:
                    work.update_usage(usage)
            outs.append(values @ aff.to(values.dtype))
        out = torch.cat(outs, 0)
        order = [row[o] for o in object_ids]
        return out if order == list(range(len(stored))) else out[order]

    # -- write

    def add(self, key, shrinkage, selection, values: torch.Tensor, object_ids: list[int]) -> None:
        """Insert one memory frame.

        key [CK,HW], shrinkage [HW], selection [CK,HW] or None, values
        [n,CV,HW], row i for ``object_ids[i]``; ids not memorised yet form a new
        value group.
        """
        if self.hw is None:
            self.hw = key.shape[1]
        index = {o: i for i, o in enumerate(object_ids)}
        per_group = []
        for g in self.groups:
            per_group.append(values[[index[o] for o in g]])
        known = self.object_ids
        new = [o for o in object_ids if o not in known]
        if new:
            self.groups.append(new)
            per_group.append(values[[index[o] for o in new]])
        self.work.add(key, shrinkage, selection if self.use_long_term else None, per_group)

        if self.use_long_term and self.work.size >= self.config.max_mid_term_frames * self.hw:
            target = self.config.max_long_term_elements - self.config.num_prototypes
            if self.long.size >= target:
                self._evict(target)
            self._consolidate()

    def _evict(self, target: int) -> None:
        """Drop the least-used long-term elements down to at most ``target``.

        The original refuses when long-term memory holds several value groups;
        here each group keeps the tail of the kept elements it aligns with.
        """
        usage = self.long.normalised_usage()
        n_remove = self.long.size - target
        if n_remove <= 0:  # already at the target (the original fails on an empty top-k here)
            return
        threshold = torch.topk(usage, k=n_remove, largest=False, sorted=True).values[-1]
        self.long.keep(usage > threshold)

    def _consolidate(self) -> None:
        cfg, hw, work = self.config, self.hw, self.work
        min_work = cfg.min_mid_term_frames * hw
        size = work.size
        end = size - min_work + hw
        cand_keys = work.keys[:, hw:end]
        cand_shrink = work.shrinkage[hw:end]
        cand_sel = work.selection[:, hw:end]
        cand_usage = work.normalised_usage()[hw:end]
        n = cand_keys.shape[1]

        cand_values: list[torch.Tensor | None] = []
        for v in work.values:
            length = v.shape[2]
            if length == size or length > min_work + hw:
                cand_values.append(v[:, :, hw : length - min_work + hw])
            else:
                cand_values.append(None)

        p = min(cfg.num_prototypes, n)
        proto_idx = torch.topk(cand_usage, k=p, dim=0, sorted=True).indices
        proto_keys = cand_keys[:, proto_idx]
        proto_sel = cand_sel[:, proto_idx]
        sim = similarity(cand_keys, cand_shrink, proto_keys, proto_sel)  # [n, p]

        # Over all candidates and prototypes this equals the original's group-0
        # affinity (group 0 always spans the whole working memory there).
        aff_all = full_softmax(sim)
        proto_shrink = cand_shrink.unsqueeze(0) @ aff_all
        proto_values: list[torch.Tensor] = []
        for g, cv in enumerate(cand_values):
            if cv is None:
                continue
            n_g = cv.shape[2]
            valid = proto_idx >= n - n_g
            if not bool(valid.any()):
                continue
            aff = aff_all if n_g == n and bool(valid.all()) else full_softmax(sim[n - n_g :, valid])
            proto_values.append(cv @ aff.to(cv.dtype))

        # Working memory keeps its first frame and the newest min_work - hw elements.
        keep = torch.zeros(size, dtype=torch.bool, device=work.keys.device)
        keep[:hw] = True
        keep[size - (min_work - hw) :] = True
        work.keep_keys(keep)
        # values are cut relative to each group's own length (not as tails of ``keep``)
        for g, v in enumerate(work.values):
            length = v.shape[2]
            if length >= min_work + hw:
                work.values[g] = torch.cat([v[:, :, :hw], v[:, :, length - (min_work - hw) :]], 2)

        self.long.add(proto_keys, proto_shrink[0], None, proto_values)

    # -- objects

    def remove_object(self, object_id: int) -> None:
        for g, members in enumerate(self.groups):
            if object_id in members:
                keep = [i for i, o in enumerate(members) if o != object_id]
                self.work.remove_objects(g, keep)
                self.long.remove_objects(g, keep)
                members.remove(object_id)
                if not members:
                    del self.groups[g]
                return

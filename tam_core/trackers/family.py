"""What a tracker family declares (:class:`TrackerFamily`): everything the rest
of the project needs to offer, download and load it, without importing the
family's heavy code. One module per family builds one of these
(``tam_core.trackers.xmem.family.XMEM_FAMILY``, ``tam_core.trackers.sam2.family.SAM2``);
``tam_core.trackers.registry`` lists them. What every model family declares
is ``tam_core.families.ModelFamily``."""

from __future__ import annotations

from dataclasses import dataclass

from tam_core.families import ModelFamily


@dataclass(frozen=True, kw_only=True)
class TrackerFamily(ModelFamily):
    """One tracker family (keywords only): the fields of
    ``tam_core.families.ModelFamily``, with load(model_type, checkpoint path,
    device, autocast) -> a tracker factory: ``factory(config=None) -> Tracker``,
    a fresh per-video pass over the one loaded network each call (``config``:
    the run's ``XMemConfig``, which other families ignore)."""

    kind = "tracker"
    flag = "--tracker"


__all__ = ["TrackerFamily"]

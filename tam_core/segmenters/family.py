"""What a segmenter family declares (:class:`SegmenterFamily`): everything the
rest of the project needs to offer, download and load it, without importing
the family's heavy code. One module per family builds one of these (e.g.
``tam_core.segmenters.sam.family.SAM``); ``tam_core.segmenters.registry`` lists
them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from tam_core.errors import ConfigError
from tam_core.weights.checkpoint import Checkpoint


@dataclass(frozen=True)
class SegmenterFamily:
    """One segmenter family.

    name: the family's name (``--segmenter NAME:TYPE``, checkpoint ``family``);
    label: its name in messages and menus ("SAM");
    types: architectures with official weights, offered to users, the first is
    the default; test_types: architectures for tests only (random weights, no
    official file: they need a checkpoint path, and user-facing choices such as
    the FiftyOne App hide them); checkpoints: the official weights, one per
    entry of ``types`` (``Checkpoint.model_type``); input_size: the longest
    image side the encoder takes; low_res_size: the side of its mask prompts
    (``mask_to_logits``); load(model_type, checkpoint path, device,
    autocast_dtype) -> a ``tam_core.types.Segmenter`` (imports the heavy code
    when called); mask_to_logits(mask bool [H,W]) -> this family's mask prompt
    for the official architectures (a loaded segmenter's own method is the one
    to use: it knows its architecture). requires / extra: the Python modules
    its loader needs and the ``tam-label`` extra that installs them
    (:meth:`check_installed`).
    """

    name: str
    types: tuple[str, ...]
    checkpoints: tuple[Checkpoint, ...]
    input_size: int
    low_res_size: int
    load: Callable[..., Any]
    mask_to_logits: Callable[[Any], Any]
    test_types: tuple[str, ...] = ()
    label: str = ""
    requires: tuple[str, ...] = ()  # modules the loader imports (checked before any download)
    extra: str = ""  # the pip extra that installs them ("fast" -> tam-label[fast])

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name or not self.types:
            raise ConfigError(f"segmenter family {self.name!r}: a name without ':' and at least one type")
        official = {c.model_type for c in self.checkpoints}
        if official != set(self.types) or any(c.family != self.name for c in self.checkpoints):
            raise ConfigError(f"segmenter family {self.name!r}: one checkpoint of family {self.name!r} per type "
                              f"{list(self.types)}, got {sorted(map(str, official))}")
        if set(self.types) & set(self.test_types):
            raise ConfigError(f"segmenter family {self.name!r}: a type is either official or test-only")

    @property
    def title(self) -> str:
        return self.label or self.name

    @property
    def default_type(self) -> str:
        return self.types[0]

    @property
    def all_types(self) -> tuple[str, ...]:
        return self.types + self.test_types

    @property
    def installed(self) -> bool:
        """Every module in ``requires`` can be imported (looked up, not imported)."""
        import importlib.util

        return all(importlib.util.find_spec(m) is not None for m in self.requires)

    def check_installed(self) -> None:
        """ConfigError in one line, before any download or load, when a module is missing."""
        if not self.installed:
            how = f"pip install 'tam-label[{self.extra}]'" if self.extra else f"pip install {' '.join(self.requires)}"
            raise ConfigError(f"the {self.title} segmenter needs {', '.join(self.requires)}: {how} "
                              "(or choose another with --segmenter)")

    def checkpoint(self, model_type: str) -> Checkpoint:
        """The official weights of ``model_type`` (ConfigError for a test type)."""
        for c in self.checkpoints:
            if c.model_type == model_type:
                return c
        raise ConfigError(f"{self.title} type {model_type!r} has no official weights; give its checkpoint file")


__all__ = ["SegmenterFamily"]

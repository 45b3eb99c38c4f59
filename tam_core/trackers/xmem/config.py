"""XMem inference configuration (the original evaluation defaults)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from tam_core.errors import ConfigError


@dataclass(frozen=True)
class XMemConfig:
    """Memory and read-out settings of one tracker.

    Working memory holds at most ``max_mid_term_frames`` memory frames; when it
    is full, all but the first and the newest ``min_mid_term_frames - 1`` frames
    are consolidated into ``num_prototypes`` long-term prototypes; long-term
    memory is capped at ``max_long_term_elements`` by usage-based eviction. So
    memory is bounded by this configuration, never by the video's length.
    """

    top_k: int = 30
    mem_every: int = 5
    deep_update_every: int = -1
    enable_long_term: bool = True
    enable_long_term_count_usage: bool = True
    num_prototypes: int = 128
    min_mid_term_frames: int = 5
    max_mid_term_frames: int = 10
    max_long_term_elements: int = 10000

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ConfigError(f"top_k must be >= 1, got {self.top_k}")
        if self.mem_every < 1:
            raise ConfigError(f"mem_every must be >= 1, got {self.mem_every}")
        if self.deep_update_every == 0 or self.deep_update_every < -1:
            raise ConfigError("deep_update_every must be -1 (on memory frames) or a positive frame count")
        if self.min_mid_term_frames < 2:
            # The original breaks with 1 (empty value slice); we refuse it up front.
            raise ConfigError(f"min_mid_term_frames must be >= 2, got {self.min_mid_term_frames}")
        if self.max_mid_term_frames <= self.min_mid_term_frames:
            raise ConfigError("max_mid_term_frames must be larger than min_mid_term_frames")
        if self.num_prototypes < 1:
            raise ConfigError("num_prototypes must be >= 1")
        if self.max_long_term_elements <= self.num_prototypes:
            raise ConfigError("max_long_term_elements must be larger than num_prototypes")

    @classmethod
    def from_json(cls, path: str | Path) -> "XMemConfig":
        """Read a config file; keys other than the fields (e.g. network sizes) are ignored."""
        data = json.loads(Path(path).read_text())
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)

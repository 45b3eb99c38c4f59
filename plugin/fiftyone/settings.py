"""Model choice in the App: what to load and how to run, from the operator
form, the plugin's settings and its secrets (FiftyOne's conventions).

Precedence, per item: the operator form > plugin settings in the dataset's
App config (``dataset.app_config.plugins["@tam-label/track-anything"]``) >
plugin settings in the App config (``fo.app_config.plugins[...]``, i.e.
``~/.fiftyone/app_config.json``) > the plugin's secrets (``fiftyone.yml``
``secrets:``; in open-source FiftyOne these are environment variables of the
App server / delegated worker) > built-in defaults. Setting names:

================  ===========================  =====================================
setting           secret / env var             meaning
================  ===========================  =====================================
sam_type          TAM_LABEL_SAM_TYPE           auto | vit_b | vit_l | vit_h, or family:type
sam_checkpoint    TAM_LABEL_SAM_CHECKPOINT     a local SAM .pth (e.g. fine-tuned)
xmem_checkpoint   TAM_LABEL_XMEM_CHECKPOINT    a local XMem .pth
tracker           TAM_LABEL_TRACKER            xmem | sam2 | sam2:TYPE (the engine)
tracker_checkpoint TAM_LABEL_TRACKER_CHECKPOINT  local tracker weights (SAM 2.1: a folder)
cache_dir         TAM_LABEL_CACHE              where official weights are cached
device            TAM_LABEL_DEVICE             auto | cpu | cuda | cuda:N
concept_model     TAM_LABEL_CONCEPT_MODEL      sam3 (pre-annotation from class names)
concept_checkpoint TAM_LABEL_CONCEPT_CHECKPOINT  a local SAM 3 Hugging Face folder
================  ===========================  =====================================

SAM 3's official weights are gated: the App server / worker needs a Hugging
Face token of an account that accepted Meta's SAM License (``HF_TOKEN`` or
``hf auth login``, Hugging Face's own settings).

``sam_type`` names the segmenter (``tam_core.segmenters.registry``): a SAM
type, or ``family:type`` for another family; test-only types (``tiny``) are
accepted here (with a checkpoint) but never offered in the form. The default,
``auto``, is the machine's choice (``tam_core.segmenters.auto``: the fast
family on a CPU, SAM ViT-H on a GPU), resolved by ``get_models`` and said in
the App server's log.

Every entry point (operators, panel) turns these into one
``tam_core.models.ModelOptions`` and loads through
``tam_core.models.get_models``, so the same choice loads once per process and
is reused across runs and panel clicks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from tam_core.models import ModelOptions
from tam_core.options import RunOptions

PLUGIN = "@tam-label/track-anything"
SECRETS = {
    "sam_type": "TAM_LABEL_SAM_TYPE",
    "sam_checkpoint": "TAM_LABEL_SAM_CHECKPOINT",
    "xmem_checkpoint": "TAM_LABEL_XMEM_CHECKPOINT",
    "tracker": "TAM_LABEL_TRACKER",
    "tracker_checkpoint": "TAM_LABEL_TRACKER_CHECKPOINT",
    "cache_dir": "TAM_LABEL_CACHE",
    "device": "TAM_LABEL_DEVICE",
    "concept_model": "TAM_LABEL_CONCEPT_MODEL",
    "concept_checkpoint": "TAM_LABEL_CONCEPT_CHECKPOINT",
}


@dataclass(frozen=True)
class ModelSettings:
    """The model items the App starts from (before the form): strings as
    typed in settings or secrets, None for "not set" (official weights,
    default cache)."""

    sam_type: str = "auto"
    sam_checkpoint: str | None = None
    xmem_checkpoint: str | None = None
    cache_dir: str | None = None
    device: str = "auto"
    tracker: str = "xmem"
    tracker_checkpoint: str | None = None
    concept_model: str = "sam3"
    concept_checkpoint: str | None = None


def _plugin_settings(dataset: Any) -> list[Mapping[str, Any]]:
    import fiftyone as fo

    out = []
    if dataset is not None:
        out.append((dataset.app_config.plugins or {}).get(PLUGIN) or {})
    out.append((fo.app_config.plugins or {}).get(PLUGIN) or {})
    return out


def _secret(ctx: Any, key: str) -> str | None:
    try:
        value = ctx.secrets[key] if ctx is not None else None
    except (KeyError, AttributeError):  # not resolved for this operator
        value = None
    return value or None


def model_defaults(ctx: Any) -> ModelSettings:
    """The model items before the form: plugin settings, then secrets, then built-ins."""
    layers = _plugin_settings(getattr(ctx, "dataset", None))
    builtin = ModelSettings()
    out = {}
    for f in fields(ModelSettings):
        value = next((layer[f.name] for layer in layers if layer.get(f.name)), None)
        out[f.name] = str(value) if value else (_secret(ctx, SECRETS[f.name]) or getattr(builtin, f.name))
    return ModelSettings(**out)


def _pick(params: Mapping[str, Any], defaults: ModelSettings, key: str) -> str | None:
    value = params.get(key)
    value = value.strip() if isinstance(value, str) else value
    return value or getattr(defaults, key)


def concept_options(params: Mapping[str, Any], defaults: ModelSettings) -> Any:
    """``tam_core.concepts.ConceptOptions`` from the form's values (blank = the default). Validated, nothing loaded."""
    from tam_core.concepts.load import ConceptOptions

    def pick(key: str) -> str | None:
        return _pick(params, defaults, key)

    return ConceptOptions(model=pick("concept_model") or "sam3", checkpoint=pick("concept_checkpoint"),
                          device=pick("device") or "auto", cache_dir=pick("cache_dir"))


def model_options(params: Mapping[str, Any], defaults: ModelSettings) -> ModelOptions:
    """ModelOptions from the form's values (blank = the default). Validated, nothing loaded."""

    def pick(key: str) -> str | None:
        return _pick(params, defaults, key)

    checkpoint = pick("sam_checkpoint")
    spec = pick("sam_type") or "auto"
    if spec == "auto" and checkpoint:
        spec = "vit_b"  # a checkpoint file without a type has always meant SAM vit_b
    return ModelOptions.for_segmenter(spec, sam_checkpoint=checkpoint,
                                      xmem_checkpoint=pick("xmem_checkpoint"), cache_dir=pick("cache_dir"),
                                      device=pick("device") or "auto", tracker=pick("tracker") or "xmem",
                                      tracker_checkpoint=pick("tracker_checkpoint"))


def segmenter_menu(default: str) -> tuple[list[str], str]:
    """The App's segmenter choices and the selected one: "auto" (the machine's
    choice) first, the SAM types by name, other families as ``family:type``,
    test-only types hidden (``tam_core.segmenters.registry``). ``default`` (a
    setting) is listed even when it is test-only, since a site configured it."""
    from tam_core.errors import ConfigError
    from tam_core.segmenters.auto import AUTO
    from tam_core.segmenters.registry import DEFAULT_FAMILY, parse_segmenter, segmenter_choices

    def shown(spec: str) -> str:
        family, model_type = spec.split(":", 1)
        return model_type if family == DEFAULT_FAMILY else spec

    choices = [AUTO] + [shown(c) for c in segmenter_choices()]
    if default.strip() == AUTO:
        return choices, AUTO
    try:
        chosen = shown(":".join(parse_segmenter(default)))
    except ConfigError:
        return choices, choices[0]
    return (choices if chosen in choices else choices + [chosen]), chosen


def tracker_menu(default: str) -> tuple[list[str], str]:
    """The App's tracking engines (``tam_core.trackers.registry``, test-only
    types hidden) as ``family:type`` and the selected one; ``default`` (a
    setting) is listed even when test-only, since a site configured it."""
    from tam_core.errors import ConfigError
    from tam_core.trackers.registry import parse_tracker, tracker_choices

    choices = tracker_choices()
    try:
        chosen = ":".join(parse_tracker(default))
    except ConfigError:
        return choices, choices[0]
    return (choices if chosen in choices else choices + [chosen]), chosen


def run_options(params: Mapping[str, Any]) -> RunOptions:
    """RunOptions from the form (direction, refine), everything else default."""
    return RunOptions(direction=params.get("direction") or "both", refine=bool(params.get("refine", True)))


__all__ = ["PLUGIN", "SECRETS", "ModelSettings", "concept_options", "model_defaults", "model_options", "run_options", "segmenter_menu",
           "tracker_menu"]

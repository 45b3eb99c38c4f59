"""The segmenter registry: every user-facing choice reads it, so a family
registered there (here a small test double) is selectable in the CLI, valid in
ModelOptions, listed by ``tam-label weights``, offered by the FiftyOne App and
accepted by CVAT's function parameters, without touching any other module."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from tam_core.errors import ConfigError
from tam_core.models import ModelOptions
from tam_core.segmenters.family import SegmenterFamily
from tam_core.segmenters.registry import families, parse_segmenter, registered, segmenter_choices
from tam_core.weights import REGISTRY, Checkpoint
from tests.doubles import ColorSegmenter, mask_to_low_res

TOY = SegmenterFamily(
    name="toy",
    label="Toy",
    types=("small", "large"),
    test_types=("random",),
    input_size=96,
    low_res_size=256,
    load=lambda model_type, checkpoint, device="cpu", autocast_dtype=None: ColorSegmenter(),
    mask_to_logits=mask_to_low_res,
    checkpoints=tuple(Checkpoint(name=f"toy_{t}", filename=f"toy_{t}.pth", url=f"https://example.invalid/toy_{t}.pth",
                                 family="toy", size=1000, sha256="0" * 64, model_type=t) for t in ("small", "large")),
)


def _parse(argv: list[str]) -> argparse.Namespace:
    from plugin.cli.model_args import add_model_args

    parser = argparse.ArgumentParser(exit_on_error=False)
    add_model_args(parser)
    return parser.parse_args(argv)


def test_a_registered_family_is_selectable_everywhere(capsys, tmp_path):
    from plugin.cli import main
    from plugin.cli.model_args import model_options
    from plugin.cvat.functions import FunctionParams
    from plugin.fiftyone.settings import segmenter_menu

    with pytest.raises((SystemExit, argparse.ArgumentError)):
        _parse(["--segmenter", "toy:small"])  # not a choice before it is registered
    with registered(TOY):
        opts = model_options(_parse(["--segmenter", "toy:small", "--device", "cpu"]))
        assert (opts.segmenter_family, opts.sam_type, opts.segmenter) == ("toy", "small", "toy:small")
        assert ModelOptions.for_segmenter("toy:large").segmenter == "toy:large"
        with pytest.raises(ConfigError, match="Toy type 'random' is a test architecture"):
            ModelOptions.for_segmenter("toy:random")  # test-only: needs a checkpoint file
        assert ModelOptions.for_segmenter("toy:random", sam_checkpoint="x.pth").sam_type == "random"
        assert FunctionParams(sam_type="toy:small").model_options().segmenter == "toy:small"  # CVAT's -p sam_type
        choices, chosen = segmenter_menu("vit_b")
        assert choices[:4] == ["auto", "vit_b", "vit_l", "vit_h"] and choices[-2:] == ["toy:small", "toy:large"]
        assert "toy:random" not in choices and chosen == "vit_b"  # test-only types hidden
        assert REGISTRY["toy_small"].url == "https://example.invalid/toy_small.pth"
        assert main(["weights", "list", "--cache-dir", str(tmp_path)]) == 0
        listed = [line.split()[:2] for line in capsys.readouterr().out.splitlines()]
        assert ["toy_small", "toy"] in listed and ["toy_large", "toy"] in listed and ["sam_vit_b", "sam"] in listed
    assert "toy" not in families() and "toy_small" not in REGISTRY
    with pytest.raises(ConfigError, match="unknown segmenter family 'toy'"):
        ModelOptions.for_segmenter("toy:small")


def test_load_models_loads_the_families_segmenter(tmp_path, monkeypatch):
    """load_models asks the family for its segmenter with the official
    checkpoint of the chosen type (here resolved to a local file)."""
    import tam_core.weights as weights
    from tam_core import models

    asked = []
    monkeypatch.setattr(weights, "resolve_checkpoint", lambda name, **kw: asked.append(name) or tmp_path / name)
    monkeypatch.setattr("tam_core.trackers.xmem.network.load_xmem", lambda path, device: object())
    with registered(TOY):
        loaded = models.load_models(ModelOptions.for_segmenter("toy:large", device="cpu"))
    assert isinstance(loaded.segmenter, ColorSegmenter) and asked == ["toy_large", "xmem"]


def test_sam_family_declares_what_the_segmenter_builds():
    from tam_core.segmenters.sam import SAM, SamConfig, mask_to_logits

    assert SAM.all_types == SamConfig.PRESETS and SAM.default_type == "vit_b" and SAM.test_types == ("tiny",)
    assert {c.name: c.model_type for c in SAM.checkpoints} == {"sam_vit_b": "vit_b", "sam_vit_l": "vit_l",
                                                               "sam_vit_h": "vit_h"}
    assert all(REGISTRY[c.name] is c for c in SAM.checkpoints)
    assert {"sam_vit_b", "sam_vit_l", "sam_vit_h", "xmem"} <= set(REGISTRY)
    official = SamConfig.vit_b()
    assert (SAM.input_size, SAM.low_res_size) == (official.img_size, official.low_res_size) == (1024, 256)
    mask = np.zeros((60, 90), bool)
    mask[10:30, 20:50] = True
    np.testing.assert_array_equal(SAM.mask_to_logits(mask), mask_to_logits(mask, 256))
    assert segmenter_choices()[:3] == ["sam:vit_b", "sam:vit_l", "sam:vit_h"]
    assert "sam:tiny" in segmenter_choices(include_test=True)


@pytest.mark.parametrize("spec, expected", [("vit_h", ("sam", "vit_h")), ("sam:tiny", ("sam", "tiny"))])
def test_parse_segmenter(spec, expected):
    assert parse_segmenter(spec) == expected


@pytest.mark.parametrize("spec, message", [
    ("vit_x", "unknown SAM model type 'vit_x': use one of vit_b, vit_l, vit_h"),
    ("nope:vit_b", "unknown segmenter family 'nope'"),
])
def test_parse_segmenter_refuses_unknown_names(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_segmenter(spec)


def test_a_family_must_declare_one_official_checkpoint_per_type():
    from dataclasses import replace

    with pytest.raises(ConfigError, match="one checkpoint of family 'toy' per type"):
        replace(TOY, types=("small", "large", "huge"))
    with pytest.raises(ConfigError, match="already registered"):
        with registered(replace(TOY, name="sam", checkpoints=tuple(replace(c, family="sam") for c in TOY.checkpoints))):
            pass

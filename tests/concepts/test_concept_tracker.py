"""SAM 3 concept prompts (tam_core.concepts) on a tiny random-weight model in
the official layout: found objects keep their ids, a pruned stream equals the
unpruned one exactly while memory stays flat, the loader is strict, and the
gated official checkpoint is declared."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tam_core.concepts.prompt import ConceptPrompt
from tam_core.errors import CheckpointError, PromptError

H, W = 48, 64


def test_prompt_validation_is_one_line():
    p = ConceptPrompt.from_labels({"Dog": " a  dog", "Cat": "cat"}, threshold=0.3)
    assert p.phrases == ("a dog", "cat") and p.label_of("a dog") == "Dog" and p.label_of("bird") == "bird"
    assert ConceptPrompt("dog").phrases == ("dog",)
    for bad in (dict(phrases=()), dict(phrases=("dog", "dog")), dict(phrases=("dog",), threshold=2),
                dict(phrases=("dog",), threshold="x"), dict(phrases=("dog",), labels=(("A", "cat"),)),
                dict(phrases=("",))):
        with pytest.raises(PromptError) as err:
            ConceptPrompt(**bad)
        assert "\n" not in str(err.value)


def test_the_gated_checkpoint_is_declared_and_listed():
    from tam_core.concepts.family import SAM3
    from tam_core.weights.hub import gated_message
    from tam_core.weights.registry import REGISTRY

    ckpt = REGISTRY["sam3"]
    assert ckpt is SAM3.checkpoint("sam3") and ckpt.repo_id == "facebook/sam3" and ckpt.gated
    assert ckpt.license == "SAM License" and "test_tiny" in SAM3.test_types
    msg = gated_message(ckpt)
    assert "accept" in msg and "HF_TOKEN" in msg and "\n" not in msg


pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    from tam_core.concepts.family import SAM3
    from tam_core.concepts.tiny import save_tiny

    folder = save_tiny(tmp_path_factory.mktemp("sam3") / "tiny",
                       tracker=dict(num_maskmem=3, max_object_pointers_in_encoder=4))
    return SAM3.load("test_tiny", folder, "cpu")


def frames(n, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    return [np.roll(base, t, axis=1) for t in range(n)]


def run(factory, video, prompt, **kw):
    from tam_core.concepts.tracker import concept_kept

    tracker = factory(prompt, **kw)
    out, held = [], []
    for image in video:
        out.append(tracker.step(image))
        held.append(concept_kept(tracker.session))
    return out, held, tracker


def same(a, b):
    return len(a) == len(b) and all(
        (x.object_id, x.label, x.phrase, x.score) == (y.object_id, y.label, y.phrase, y.score)
        and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


PROMPT = ConceptPrompt.from_labels({"Dog": "dog", "Car": "red car"}, threshold=0.0)


def test_found_objects_have_shapes_labels_and_stable_ids(factory):
    out, _, _ = run(factory, frames(4), PROMPT)
    assert out[0], "the tiny model finds objects at threshold 0"
    ids0 = {o.object_id: (o.label, o.phrase) for o in out[0]}
    for found in out:
        for o in found:
            assert o.mask.shape == (H, W) and o.mask.dtype == bool and 0.0 <= o.score <= 1.0
            assert (o.label, o.phrase) in {("Dog", "dog"), ("Car", "red car")}
        assert {o.object_id: (o.label, o.phrase) for o in found} == ids0  # same objects, same ids
    high = ConceptPrompt(("dog",), threshold=0.99)
    assert run(factory, frames(2), high)[0] == [[], []]
    with pytest.raises(PromptError, match="uint8"):
        factory(PROMPT).step(np.zeros((H, W), np.uint8))


@pytest.mark.slow
def test_pruned_stream_equals_the_unpruned_model_and_memory_is_flat(factory):
    video = frames(14)
    full, full_held, _ = run(factory, video, PROMPT, prune=False)
    pruned, held, tracker = run(factory, video, PROMPT)
    assert tracker.window == 3
    for t, (a, b) in enumerate(zip(full, pruned)):
        assert same(a, b), f"frame {t} differs"
    assert full_held[-1] == (14, full_held[-1][1]) and full_held[-1][1] > 2 * held[-1][1]
    assert max(f for f, _ in held) == tracker.window + 1
    assert max(h for _, h in held[7:]) <= 1.1 * held[5][1]  # flat once the window is full


@pytest.mark.slow
def test_two_threads_on_one_model_equal_one_after_the_other(factory):
    videos = [frames(3, 1), frames(3, 2)]
    alone = [run(factory, v, PROMPT)[0] for v in videos]
    got = [None, None]

    def work(i):
        got[i] = run(factory, videos[i], PROMPT)[0]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(same(a, b) for i in range(2) for a, b in zip(alone[i], got[i]))


def test_a_renamed_weight_is_refused_in_one_line(tmp_path):
    from safetensors.torch import load_file, save_file

    from tam_core.concepts.family import SAM3
    from tam_core.concepts.tiny import save_tiny

    folder = save_tiny(tmp_path / "tiny")
    state = load_file(folder / "model.safetensors")
    key = next(k for k in sorted(state) if k.startswith("detector_model"))
    state[key + "_renamed"] = state.pop(key)
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as err:
        SAM3.load("test_tiny", folder, "cpu")
    assert "\n" not in str(err.value) and key in str(err.value) and "SAM 3 test_tiny" in str(err.value)

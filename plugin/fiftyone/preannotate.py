"""Pre-annotate FiftyOne videos from class names (SAM 3 concept prompts).

Each sample's video is streamed through a concept tracker; every object found
is written into ``frames.<label_field>`` like a tracked object (a
``Detection`` with ``index`` = object id, ``label`` = its class,
``confidence`` = SAM 3's score on that frame, ``tam_phrase`` = the phrase that
found it), and its first frame is stored as a keyframe (``tam_prompt`` =
``concept:<digest>``), so a person's later correction (edit a mask, then
``correct(..., prompt_field=None)`` or the Correct operator) re-tracks only the
span it affects. Ownership is the track runs': detections a person added or
edited are never replaced; a re-run replaces only its own earlier objects
(and removes those it no longer finds); objects of click-prompted runs in the
same field keep their ids (found objects get ids above them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from operators.preannotate import FoundTrack, preannotate as run_preannotation
from operators.run_record import RunRecord, concept_fingerprint, concept_model_fingerprint
from tam_core.concepts.load import ConceptOptions, get_concepts
from tam_core.concepts.prompt import ConceptPrompt
from tam_core.errors import ConfigError, frames_counted_from
from tam_core.types import FrameResult, Prompt


from .api import DEFAULT_LABEL_FIELD, SampleProgress
from .convert import CONCEPT_PREFIX, PHRASE_ATTR, KeyframeTag, is_edited, is_ours, prompt_digest
from .prompt_reader import check_video, field_name, frames_with
from .sink import FrameDetectionsSink, check_output_field, ensure_job_field


@dataclass(frozen=True)
class PreannotationReport:
    """One sample: the objects found (id -> label, phrase, best score, first frame), or why nothing was done."""

    sample_id: str
    filepath: str
    objects: Mapping[int, FoundTrack]
    frames_written: int
    note: str = ""


def default_classes(samples: Any, label_field: str) -> list[str]:
    """The label field's classes (``dataset.classes[field]``), else the
    dataset's ``default_classes``; ConfigError when neither is set."""
    dataset = samples._dataset
    name = field_name(label_field)
    classes = (dataset.classes or {}).get(name) or (dataset.classes or {}).get(f"frames.{name}") or dataset.default_classes
    if not classes:
        raise ConfigError(f"no classes to look for: give classes (e.g. ['person', 'car']) or set the dataset's "
                          f"classes for {name!r} (dataset.classes[{name!r}] = [...]) or its default_classes")
    return list(classes)


@dataclass(frozen=True)
class _Earlier:
    """What the label field holds before the run: our earlier found objects'
    (id, frame) pairs, the pairs a person edited (protected), and the ids in
    use by anything else (click-prompted objects, a person's detections)."""

    found: frozenset[tuple[int, int]]
    edited: frozenset[tuple[int, int]]
    other_ids: frozenset[int]


def _earlier(sample: Any, label_field: str) -> _Earlier:
    found, edited, other = set(), set(), set()
    for fn, dets in frames_with(sample, label_field):
        for d in dets.detections:
            if d.index is None:
                continue
            key = (int(d.index), fn - 1)
            concept = is_ours(d) and d.has_field(PHRASE_ATTR) and bool(d.get_field(PHRASE_ATTR))
            if concept:
                found.add(key)
                if is_edited(d):
                    edited.add(key)
            else:
                other.add(key[0])
    return _Earlier(frozenset(found), frozenset(edited), frozenset(other))


def preannotate_sample(sample: Any, prompt: ConceptPrompt, label_field: str, concepts: ConceptOptions | Any,
                       batch_size: int = 32, progress: SampleProgress | None = None) -> PreannotationReport:
    """Pre-annotate one video sample (see the module doc). ``concepts``: what
    to load (:class:`ConceptOptions`, loaded once per process by
    ``get_concepts``, only when there is work) or an already loaded factory
    (``prompt -> tracker``; a test double)."""
    from tam_core.video import open_video

    with frames_counted_from(1), open_video(sample.filepath) as video:
        model_part = (concept_model_fingerprint(concepts) if isinstance(concepts, ConceptOptions)
                      else {"model": type(concepts).__name__})
        earlier = _earlier(sample, label_field)
        fingerprint = concept_fingerprint(video, prompt, {**model_part, "edited": sorted(earlier.edited)})
        ensure_job_field(sample._dataset, label_field)
        sink = FrameDetectionsSink(sample, label_field, {}, {}, {}, protected=earlier.edited)
        previous = sink.load_record()
        if previous is not None and previous.finished and previous.fingerprint == fingerprint:
            return PreannotationReport(sample.id, sample.filepath, {}, 0, "already pre-annotated with these classes "
                                       "and this model: nothing to do")
        base = max(earlier.other_ids, default=0) + 1  # found objects never take a prompted object's id
        sink.save_record(RunRecord(fingerprint))  # unfinished until every frame is written

        def named(track: FoundTrack, keyframe: Prompt) -> None:
            sink.labels[track.object_id] = track.label
            sink.attributes[track.object_id] = {PHRASE_ATTR: track.phrase}
            sink.keyframes[(track.object_id, keyframe.frame)] = KeyframeTag(CONCEPT_PREFIX + prompt_digest(keyframe))

        factory = get_concepts(concepts) if isinstance(concepts, ConceptOptions) else concepts
        cb = (lambda d, t: progress(sample.id, d, t)) if progress else None
        result = run_preannotation(video, factory(prompt), sink, batch_size, cb, id_base=base, on_found=named)
        # an earlier run's objects on frames this run did not write them to: removed (a person's edits stay)
        stale: dict[int, list[int]] = {}
        for oid, frame in sorted(earlier.found - earlier.edited):
            track = result.objects.get(oid)
            if track is None or frame < track.first_frame:
                stale.setdefault(frame, []).append(oid)
        empty = np.zeros(tuple(video.size), bool)
        sink.write([FrameResult(f, tuple(ids), {o: empty for o in ids}, {o: 0.0 for o in ids})
                    for f, ids in sorted(stale.items())])
        sink.save_record(RunRecord(fingerprint, finished=True))
        return PreannotationReport(sample.id, sample.filepath, dict(result.objects), result.frames_written)


def preannotate(
    samples: Any,
    classes: Iterable[str] | Mapping[str, str] | None = None,
    label_field: str = DEFAULT_LABEL_FIELD,
    concepts: ConceptOptions | Any = ConceptOptions(),
    threshold: float = 0.5,
    batch_size: int = 32,
    progress: SampleProgress | None = None,
) -> list[PreannotationReport]:
    """Find, segment and track every instance of ``classes`` in every video of
    ``samples`` (no clicks) into ``frames.<label_field>``.

    classes: class names (each its own phrase) or a class -> phrase mapping
    (``{"car": "red car"}``); None: the label field's classes
    (:func:`default_classes`). threshold: the lowest SAM 3 score kept. A re-run
    with the same classes, model and edits does nothing; the person's edits
    of found masks are kept (run ``correct`` to re-track from them)."""
    check_video(samples)
    prompt = ConceptPrompt.from_labels(classes if classes is not None else default_classes(samples, label_field),
                                       threshold)
    check_output_field(samples._dataset, label_field)
    lf = field_name(label_field)
    reports = []
    for s in samples.select_fields():  # ids and file paths only; full samples loaded one by one
        reports.append(preannotate_sample(s._dataset[s.id], prompt, lf, concepts, batch_size, progress))
    return reports


__all__ = ["PreannotationReport", "default_classes", "preannotate", "preannotate_sample"]

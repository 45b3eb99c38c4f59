"""`tam-label cvat track --concepts` (and `fix` after it) against a REAL CVAT
2.23.1 server. Skipped unless ``CVAT_REAL_URL`` is set (CI keeps the fake)::

    CVAT_REAL_URL=http://127.0.0.1:8080 python tests/cvat/real_concepts_check.py

On a 30-frame video task with overlapping jobs (``real_server_check.Check``),
as a person's work: a grouped polygon. Then, with the color concept double
(``concept_models.py``, exact masks): pre-annotate from every label; re-run
(nothing to do); a person edits one found mask, fix re-tracks only its span;
a reviewer accepts the first job; a re-run with one label removes our other
objects but not the person's edit nor the accepted job's masks. Last, the tiny
SAM 3 (random weights, the real model code) pre-annotates a second task:
masks stored once each, a re-run uploads nothing. Counts come from the
server's per-job storage.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (ROOT, HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from real_server_check import Check, main  # noqa: E402


class ConceptCheck(Check):
    def auto(self, tid):
        stored = self.stored(tid)
        auto = [(j, s) for j, s in stored if s["source"] == "auto" and s["type"] == "mask"]
        return stored, auto, Counter((s["label_id"], s["group"], s["frame"]) for _, s in auto)

    def concepts(self, tid, *extra, env=None):
        full = {"PYTHONPATH": f"{ROOT}{os.pathsep}{HERE}", "TAM_LABEL_CONCEPT_PROVIDER": "concept_models:provide",
                **(env or {})}
        rc, out, err = self.cli("track", self.url, tid, "--concepts", *extra, env=full)
        self.say(f"$ tam-label cvat track --concepts {' '.join(extra)} --task {tid} -> exit {rc}\n{out.strip()}"
                 + (f"\n{err.strip()}" if err.strip() else ""))
        return rc, out, err

    def run(self) -> int:
        import numpy as np

        from plugin.cvat.masks import decode_mask, encode_mask
        from tests.synthetic import make_video

        video = make_video(num_frames=30, size=(192, 288))  # big enough that JPEG's chroma edges stay small
        self.model_args = self.models()
        tid = self.create_task(video)
        jobs = self.jobs(tid)
        labels = {lab["name"]: lab["id"] for lab in self.get("/api/labels", task_id=tid)["results"]}
        self.say(f"task {tid}: jobs {[(j['id'], j['start_frame'], j['stop_frame']) for j in jobs]}, labels {labels}")
        polygon = dict(type="polygon", frame=3, label_id=labels["dog"], group=3, points=[2.0, 2.0, 12.0, 2.0, 12.0, 12.0],
                       source="manual", occluded=False, z_order=0, rotation=0.0, attributes=[])
        self.job_patch(jobs[0]["id"], "create", [polygon])
        manual = lambda stored: sorted((s["id"], tuple(s["points"])) for _, s in stored if s["source"] == "manual")  # noqa: E731
        manual_before = manual(self.stored(tid))

        # 1. pre-annotate from every label (car: object 1, ball: objects 2 and 3; dog finds nothing)
        rc, out, _ = self.concepts(tid, "--concept-threshold", "0.5")
        stored, auto, keys = self.auto(tid)
        objects = sorted({(label, group) for label, group, _ in keys})
        self.expect(rc == 0 and len(objects) == 3, f"exit 0, three objects found: {objects}")
        self.expect(max(keys.values()) == 1, f"one stored mask per (object, frame) across overlapping jobs ({len(keys)})")
        self.expect(all(g > 3 for _, g in objects), "every found object has a group above the person's group 3")
        obj_of = {(labels["car"], min(g for lab, g in objects if lab == labels["car"])): 1}
        balls = sorted(g for lab, g in objects if lab == labels["ball"])
        obj_of.update({(labels["ball"], balls[0]): 2, (labels["ball"], balls[1]): 3})
        ious = []
        for _, s in auto:
            mask, truth = decode_mask(s["points"], *video.size), video.mask(s["frame"], obj_of[(s["label_id"], s["group"])])
            ious.append((mask & truth).sum() / max((mask | truth).sum(), 1))
        self.expect(min(ious) > 0.9, f"every mask is its object on its task frame (IoU with the truth: min {min(ious):.3f}, "
                    f"median {float(np.median(ious)):.3f}; the double reads the colors of CVAT's JPEG chunks)")
        self.expect(manual(stored) == manual_before, "the person's polygon is untouched")

        # 2. the same again: nothing to do
        ids = sorted(s["id"] for _, s in auto)
        rc, out, _ = self.concepts(tid, "car,ball,dog", "--concept-threshold", "0.5")
        self.expect(rc == 0 and "nothing changed since the last run" in out and
                    sorted(s["id"] for _, s in self.auto(tid)[1]) == ids, "a re-run uploads nothing")

        # 3. a person edits the first ball on frame 20 (its job, as the UI does); fix re-tracks only its span
        ball = (labels["ball"], balls[0])
        target = next((j, s) for j, s in auto if (s["label_id"], s["group"]) == ball and s["frame"] == 20)
        truth = video.mask(20, 2).copy()
        truth[:, : int(np.flatnonzero(truth.any(axis=0)).mean())] = False  # the person keeps its right half
        edited = [float(p) for p in encode_mask(truth)]
        self.job_patch(target[0], "update", [dict(target[1], points=edited, source="semi-auto")])
        owner = {s["id"]: (s["label_id"], s["group"]) for _, s in self.stored(tid)}
        before = {s["id"]: (s["frame"], s["points"]) for _, s in self.stored(tid)}
        rc, out, _ = self.cli("fix", self.url, tid)
        self.say(f"$ tam-label cvat fix --task {tid} -> exit {rc}\n{out.strip()}")
        stored, auto, keys = self.auto(tid)
        after = {s["id"]: (s["frame"], s["points"]) for _, s in stored}
        changed = {i for i in set(before) | set(after) if before.get(i) != after.get(i)}
        frames_changed = sorted({(before.get(i) or after.get(i))[0] for i in changed})
        owner.update({s["id"]: (s["label_id"], s["group"]) for _, s in stored})
        owners = {owner[i] for i in changed}
        self.expect(rc == 0 and "corrected keyframes to re-track from:" in out and ", 20)]" in out, "fix finds the edit")
        self.expect(after.get(target[1]["id"]) == (20, edited), "the person's edit is kept as they left it")
        self.expect(all(11 <= f <= 29 for f in frames_changed) and owners <= {ball},
                    f"only the edited ball's span after its keyframe 0 changed (frames {frames_changed})")
        self.expect(max(keys.values()) == 1 and manual(stored) == manual_before, "no duplicates; polygon untouched")

        # 4. a reviewer accepts the first job; a re-run with only the car removes our balls outside it
        self.s.patch(f"{self.url}/api/jobs/{jobs[0]['id']}", json={"stage": "acceptance", "state": "completed"}).raise_for_status()
        accepted = sorted((s["id"], tuple(s["points"])) for j, s in self.stored(tid) if j == jobs[0]["id"])
        rc, out, _ = self.concepts(tid, "car", "--concept-threshold", "0.5")
        stored, auto, keys = self.auto(tid)
        self.expect(rc == 0 and sorted((s["id"], tuple(s["points"])) for j, s in stored if j == jobs[0]["id"]) == accepted,
                    "the accepted job is left exactly as it was")
        left_balls = sorted(s["frame"] for j, s in auto if s["label_id"] == labels["ball"] and j != jobs[0]["id"])
        self.expect(left_balls == [], f"our balls outside the accepted job are removed (left: {left_balls})")
        self.expect(after.get(target[1]["id"]) == (20, edited) and any(s["id"] == target[1]["id"] for _, s in stored),
                    "the person's edited ball stays")
        self.s.patch(f"{self.url}/api/jobs/{jobs[0]['id']}", json={"stage": "annotation", "state": "in progress"}).raise_for_status()

        # 5. the tiny SAM 3 (random weights) on a second task: stored once each, re-run uploads nothing
        from tam_core.concepts.tiny import save_tiny

        folder = save_tiny(self.work / "sam3")
        tid2 = self.create_task(video)
        tiny = ["--concept-model", "sam3:test_tiny", "--concept-checkpoint", str(folder), "--concept-threshold", "0"]
        rc, out, err = self.concepts(tid2, *tiny, env={"TAM_LABEL_CONCEPT_PROVIDER": ""})
        _, auto2, keys2 = self.auto(tid2)
        self.expect(rc == 0 and auto2 and max(keys2.values()) == 1, f"tiny SAM 3: {len(auto2)} masks, each stored once")
        rc, out, err = self.concepts(tid2, *tiny, env={"TAM_LABEL_CONCEPT_PROVIDER": ""})
        self.expect(rc == 0 and sorted(s["id"] for _, s in self.auto(tid2)[1]) == sorted(s["id"] for _, s in auto2),
                    "tiny SAM 3 re-run: the same masks")
        self.say(f"{len(self.failures)} failed checks")
        return 1 if self.failures else 0


if __name__ == "__main__":
    sys.exit(main(ConceptCheck))

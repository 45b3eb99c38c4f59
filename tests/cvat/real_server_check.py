"""End-to-end check of `tam-label cvat track|fix` against a REAL CVAT server.

Skipped unless ``CVAT_REAL_URL`` is set (CI keeps the fake server). With
a CVAT 2.23.1 server running on loopback (e.g. CVAT's docker compose set-up)::

    CVAT_REAL_URL=http://127.0.0.1:8080 CVAT_REAL_USER=admin CVAT_REAL_PASSWORD=admin12345 \\
        python tests/cvat/real_server_check.py          # prints what it saw; exit 1 on a failed check
    # or: pytest tests/cvat/test_cvat_real_server.py

It creates a video task (30 frames from tests/synthetic.py, encoded with PyAV)
with segment_size 10 and overlap 5 (jobs 0-9, 5-14, 10-19, 15-24, 20-29) over
plain REST, draws a person's prompts as the CVAT UI does (job-level writes):
points on frame 0, a box on frame 12, a mask on frame 22, and a manual
polyline (not a prompt), then runs the CLI as a subprocess with the real
engine (our XMem with seeded weights + a tiny random-weight SAM, from .pth
files written here; masks say nothing about quality, only about the wiring):
track, re-track under other spellings of the URL, a mask edit + fix, two runs
at once, issue 22's scenarios (``real_server_person.py``: lost state folder,
second machine, second address, a person editing during a run, deletions
and relabels, an accepted job, overlap frames, deleted frames, no-op
re-runs, track after fix, a missing record), and the start-up errors. Every count comes from the server's own
per-job storage (``GET /api/jobs/{id}/annotations``).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for _p in (ROOT, Path(__file__).resolve().parent):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))


class Check:
    def __init__(self, url: str, user: str, password: str, work: Path):
        import requests

        self.url, self.user, self.password, self.work = url.rstrip("/"), user, password, work
        self.s = requests.Session()
        self.s.post(f"{self.url}/api/auth/login", json={"username": user, "password": password}).raise_for_status()
        self.s.headers["X-CSRFToken"] = self.s.cookies["csrftoken"]
        self.failures: list[str] = []
        self.log: list[str] = []

    # -- REST helpers -----------------------------------------------------------------
    def get(self, path, **params):
        r = self.s.get(f"{self.url}{path}", params=params)
        r.raise_for_status()
        return r.json()

    def job_patch(self, job, action, shapes):
        r = self.s.patch(f"{self.url}/api/jobs/{job}/annotations", params={"action": action},
                         json={"shapes": shapes, "tracks": [], "tags": []})
        r.raise_for_status()
        return r.json()["shapes"]

    def say(self, text: str) -> None:
        print(text, flush=True)
        self.log.append(text)

    def expect(self, ok: bool, what: str) -> None:
        self.say(("  ok   " if ok else "  FAIL ") + what)
        if not ok:
            self.failures.append(what)

    # -- setup --------------------------------------------------------------------------
    def create_task(self, video) -> int:
        import tempfile

        from tam_core.video import write_video

        with tempfile.TemporaryDirectory() as tmp:
            write_video(f"{tmp}/clip.mp4", video.frames, fps=10)
            with open(f"{tmp}/clip.mp4", "rb") as f:
                buf = io.BytesIO(f.read())
        labels = [{"name": "car", "attributes": [{"name": "negative", "input_type": "checkbox", "mutable": True,
                                                  "values": ["false"], "default_value": "false"}]},
                  {"name": "ball"}, {"name": "dog"}]
        r = self.s.post(f"{self.url}/api/tasks", json={"name": "tam-label real check", "labels": labels,
                                                        "segment_size": 10, "overlap": 5})
        r.raise_for_status()
        tid = r.json()["id"]
        r = self.s.post(f"{self.url}/api/tasks/{tid}/data", data={"image_quality": 95},
                        files={"client_files[0]": ("clip.mp4", buf.getvalue(), "video/mp4")})
        r.raise_for_status()
        rq = r.json()["rq_id"]
        for _ in range(240):
            status = self.get(f"/api/requests/{rq}")
            if status["status"] in ("finished", "failed"):
                break
            time.sleep(0.5)
        if status["status"] != "finished":
            raise RuntimeError(f"task data upload {status['status']}: {status.get('message')}")
        return tid

    def jobs(self, tid):
        return sorted(self.get("/api/jobs", task_id=tid, page_size=100)["results"], key=lambda j: j["start_frame"])

    def stored(self, tid) -> list[tuple[int, dict]]:
        """(job id, shape) for every stored shape, per job (copies included)."""
        return [(j["id"], s) for j in self.jobs(tid) for s in self.get(f"/api/jobs/{j['id']}/annotations")["shapes"]]

    def models(self) -> list[str]:
        import torch

        from tam_core.segmenters.sam import SamConfig, build_sam
        from tam_core.trackers.xmem.seeded_weights import xmem_seeded_state_dict

        xmem, sam = self.work / "xmem_seeded.pth", self.work / "sam_tiny.pth"
        torch.save(xmem_seeded_state_dict(1), xmem)
        torch.manual_seed(0)
        torch.save(build_sam(SamConfig.tiny()).state_dict(), sam)
        return ["--sam-type", "tiny", "--sam-checkpoint", str(sam), "--xmem-checkpoint", str(xmem), "--device", "cpu"]

    def cli(self, action, server, tid, *extra, env=None, wait=True, state=None):
        cmd = [sys.executable, "-m", "plugin.cli", "cvat", action, "--server", server, "--task", str(tid),
               "--state-dir", str(state or self.work / "state"), "--no-progress", "--batch-size", "8", *self.model_args, *extra]
        full = dict(os.environ, PYTHONPATH=str(ROOT), CVAT_USERNAME=self.user, CVAT_PASSWORD=self.password)
        full.pop("CVAT_ACCESS_TOKEN", None)
        full.setdefault("OMP_NUM_THREADS", "1")  # tiny frames: one thread each, kinder to a shared machine
        full.update(env or {})
        proc = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if not wait:
            return proc
        out, err = proc.communicate(timeout=900)
        return proc.returncode, out, err

    # -- the check ---------------------------------------------------------------------------
    def run(self) -> int:
        from tests.synthetic import make_video

        from plugin.cvat.masks import encode_mask

        video = make_video(num_frames=30, size=(64, 96))
        self.model_args = self.models()
        tid = self.create_task(video)
        jobs = self.jobs(tid)
        self.say(f"task {tid}: 30 frames, jobs {[(j['id'], j['start_frame'], j['stop_frame']) for j in jobs]}")
        labels = {lab["name"]: lab["id"] for lab in self.get("/api/labels", task_id=tid)["results"]}
        job_of = lambda f: next(j["id"] for j in jobs if j["start_frame"] <= f <= j["stop_frame"])  # noqa: E731
        ys, xs = video.mask(0, 1).nonzero()
        person = [
            (0, {"type": "points", "frame": 0, "label_id": labels["car"], "points": [float(xs.mean()), float(ys.mean())]}),
            (12, {"type": "rectangle", "frame": 12, "label_id": labels["ball"],
                  "points": [float(c) for c in _box(video.mask(12, 2))]}),
            (22, {"type": "mask", "frame": 22, "label_id": labels["dog"],
                  "points": [float(p) for p in encode_mask(video.mask(22, 3))]}),
            (7, {"type": "polyline", "frame": 7, "label_id": labels["car"], "points": [1.0, 1.0, 20.0, 20.0]}),
        ]
        for f, shape in person:
            self.job_patch(job_of(f), "create", [dict(shape, source="manual", group=0, occluded=False, z_order=0,
                                                      rotation=0.0, attributes=[])])
        manual_before = sorted((s["id"], s["frame"], s["type"], tuple(s["points"])) for _, s in self.stored(tid))

        def auto_per_key():
            stored = self.stored(tid)
            auto = [(j, s) for j, s in stored if s["source"] == "auto" and s["type"] == "mask"]
            keys = Counter((s["label_id"], s["group"], s["frame"]) for _, s in auto)
            manual = sorted((s["id"], s["frame"], s["type"], tuple(s["points"])) for _, s in stored if s["source"] == "manual")
            return stored, auto, keys, manual

        # 1. track
        rc, out, err = self.cli("track", self.url, tid)
        self.say(f"$ tam-label cvat track --server {self.url} --task {tid}  -> exit {rc}\n{out.strip()}{err.strip() and chr(10) + err.strip()}")
        stored, auto, keys, manual = auto_per_key()
        per_frame = Counter(s["frame"] for _, s in auto)
        self.say(f"  stored auto masks: {len(auto)}; per frame: {dict(sorted(per_frame.items()))}")
        self.say(f"  auto masks per job: {dict(Counter(j for j, _ in auto))}")
        self.expect(rc == 0, "track exits 0")
        self.expect(max(keys.values(), default=0) == 1, f"no duplicates: one stored mask per (object, frame) ({len(keys)} keys)")
        self.expect(all(next(jj for jj in jobs if jj["id"] == j)["start_frame"] <= s["frame"] <= next(jj for jj in jobs if jj["id"] == j)["stop_frame"]
                        for j, s in auto), "every mask is stored in a job holding its frame")
        self.expect(manual == manual_before, "the person's 4 shapes are untouched (ids, frames, points)")
        ids_after_track = sorted(s["id"] for _, s in auto)

        # 2. re-run under other spellings: nothing uploaded, same ids
        for spelling in (self.url.replace("127.0.0.1", "localhost") + "/", self.url + "/"):
            rc, out, err = self.cli("track", spelling, tid)
            self.say(f"$ tam-label cvat track --server {spelling} --task {tid}  -> exit {rc}\n{out.strip()}")
            _, auto2, keys2, manual2 = auto_per_key()
            self.expect(rc == 0 and "upload 0 masks" in out, f"re-run via {spelling}: no uploads")
            self.expect(sorted(s["id"] for _, s in auto2) == ids_after_track and manual2 == manual_before,
                        f"re-run via {spelling}: same mask ids, person's shapes untouched")
            self.expect("keyframes (object, frame): [(1, 0), (2, 12), (3, 22)]" in out, "no mask of ours taken for a person's keyframe")

        # 2b. copies of one of our masks, as a task-level upload (older versions) leaves them
        seven = next(s for j, s in auto2 if s["label_id"] == labels["car"] and s["frame"] == 7)
        r = self.s.patch(f"{self.url}/api/tasks/{tid}/annotations", params={"action": "create"},
                         json={"shapes": [{k: v for k, v in seven.items() if k != "id"}], "tracks": [], "tags": []})
        r.raise_for_status()
        copies = [s["id"] for s in r.json()["shapes"]]
        read = [s["id"] for s in self.get(f"/api/tasks/{tid}/annotations")["shapes"] if s["frame"] == 7 and s["label_id"] == labels["car"] and s["type"] == "mask"]
        self.say(f"task-level create of a copy of mask {seven['id']} (frame 7) stored ids {copies}; the task read lists {sorted(read)}")
        rc, out, err = self.cli("track", self.url, tid)
        self.say(f"$ tam-label cvat track --server {self.url} --task {tid}  -> exit {rc}\n{out.strip()}")
        _, auto2b, keys2b, manual2b = auto_per_key()
        car7 = [s["id"] for _, s in auto2b if s["label_id"] == labels["car"] and s["frame"] == 7]
        self.expect(rc == 0 and f"extra copies of our masks in overlapping jobs (removed): {len(copies)}" in out,
                    "the copies are recognised as ours")
        self.expect("keyframes (object, frame): [(1, 0), (2, 12), (3, 22)]" in out, "no copy taken for a person's keyframe")
        self.expect(car7 == [seven["id"]] and max(keys2b.values()) == 1 and manual2b == manual_before,
                    "one mask per frame again (the original kept), person's shapes untouched")
        auto = auto2b

        # 3. a person edits one of our masks (in its job, as the UI does), then fix
        target = next(s for j, s in auto if s["label_id"] == labels["car"] and s["frame"] == 16)
        edited_points = [float(p) for p in encode_mask(video.mask(16, 1))]
        self.job_patch(next(j for j, s in auto if s["id"] == target["id"]), "update",
                       [dict(target, points=edited_points, source="semi-auto")])
        rc, out, err = self.cli("fix", self.url.replace("127.0.0.1", "localhost"), tid)
        self.say(f"$ tam-label cvat fix --server {self.url.replace('127.0.0.1', 'localhost')} --task {tid}  -> exit {rc}\n{out.strip()}")
        stored3, auto3, keys3, manual3 = auto_per_key()
        kept = next((s for _, s in stored3 if s["id"] == target["id"]), None)
        self.expect(rc == 0 and "corrected keyframes to re-track from: [(1, 16)]" in out, "fix finds exactly the edited frame")
        self.expect(kept is not None and kept["points"] == edited_points and kept["source"] == "semi-auto", "the edited mask is kept as the person left it")
        car16 = [s for _, s in auto3 if s["label_id"] == labels["car"] and s["frame"] == 16]
        self.expect(not car16 and max(keys3.values(), default=0) == 1, "no auto mask over the edit; still no duplicates")
        self.expect(manual3 == manual_before, "the person's shapes are untouched after fix")
        self.say(f"  after fix: {len(auto3)} auto masks, per job {dict(Counter(j for j, _ in auto3))}")

        # 4. two runs at once (a changed prompt first, so that the runs have work to do)
        from real_server_person import _nudge_prompt, person_scenarios

        _nudge_prompt(self, tid, labels)
        a = self.cli("track", self.url, tid, wait=False)
        time.sleep(0.3)
        b = self.cli("track", self.url.replace("127.0.0.1", "localhost"), tid, wait=False)
        (_, ea), (_, eb) = a.communicate(timeout=900), b.communicate(timeout=900)
        locked = [e for e in (ea, eb) if "being changed by another tam-label run" in e]
        self.say(f"two runs at once: exits {a.returncode}, {b.returncode}; refused: {locked[0].strip() if locked else 'none'}")
        self.expect(sorted((a.returncode, b.returncode)) == [0, 1] and len(locked) == 1, "the second run is refused, naming the holder")
        _, auto4, keys4, _ = auto_per_key()
        self.expect(max(keys4.values(), default=0) == 1, "no duplicates after two runs at once")

        # 5. issue 22: a person's work and ownership on the server (tests/cvat/real_server_person.py)
        person_scenarios(self, tid, video, labels, jobs)

        # 6. start-up errors
        for server, env, want in (
            ("http://127.0.0.1:8099", None, "cannot reach CVAT at http://127.0.0.1:8099 (connection refused)"),
            (self.url.replace("http://", "https://"), None, "TLS handshake failed"),
            (self.url.removeprefix("http://"), None, "has no scheme"),
            (self.url, {"CVAT_ACCESS_TOKEN": "abc"}, "has no API access tokens"),
        ):
            t0 = time.monotonic()
            env2 = dict(env, CVAT_USERNAME="", CVAT_PASSWORD="") if env else None
            rc, out, err = self.cli("track", server, tid, "--dry-run", env=env2)
            self.say(f"$ ... --server {server}{' (CVAT_ACCESS_TOKEN set)' if env else ''} -> exit {rc} in {time.monotonic() - t0:.1f}s: {err.strip()}")
            self.expect(rc == 1 and want in err and err.strip().count("\n") == 0, f"one-line error: {want}")
        self.say(f"{len(self.failures)} failed checks")
        return 1 if self.failures else 0


def _box(mask):
    ys, xs = mask.nonzero()
    return xs.min() - 1.0, ys.min() - 1.0, xs.max() + 1.0, ys.max() + 1.0


def main(check: type = Check) -> int:
    """Run ``check`` (this module's :class:`Check` or a subclass) against ``$CVAT_REAL_URL``."""
    url = os.environ.get("CVAT_REAL_URL")
    if not url:
        print("CVAT_REAL_URL is not set: skipped (see the docstring)")
        return 0
    with tempfile.TemporaryDirectory() as work:
        return check(url, os.environ.get("CVAT_REAL_USER", "admin"), os.environ.get("CVAT_REAL_PASSWORD", "admin12345"), Path(work)).run()


if __name__ == "__main__":
    sys.exit(main())

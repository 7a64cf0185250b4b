"""``main.py restore … --cluster`` (and ``upscale … --cluster``): photos spread over a Ray cluster.

The driver (this process) lists the photos, skips those whose outputs are already there (outputs
are written atomically, so one that exists is complete: a batch that was stopped or crashed is
simply run again), reads each remaining photo and hands it to one of ``--workers`` Ray actors.
Each actor holds the models once (a ``_Restorer``, as a local run has) and sends the restored
picture back; the driver writes every output itself, once, atomically — so no shared disk is
needed for outputs, and a retried photo can never leave half a file or be written twice. A worker
that dies is restarted by Ray and its photo is handed to a worker again (up to ``ATTEMPTS`` times).
One progress bar counts the photos with an ETA; the end is a summary and ``kiln-report.json`` in
``--out``: done, already done, failed (with the reason), and missing (none, unless stopped).

Model files and ``--find-faces`` must be at the same path on every node (or be hub ids in their
caches); the photos, the given mask and ``NAME.faces.json`` are read here and sent.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from inference.cli.generate import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK
from inference.core.errors import KilnError

ATTEMPTS = 3
REPORT_NAME = "kiln-report.json"
IN_FLIGHT_PER_WORKER = 2


def connect(address: str):
    """Join the Ray cluster at ``address`` ("auto": the one on this machine, else a new local one;
    ``ray://HOST:10001``: a remote cluster through Ray Client). Returns the ``ray`` module."""
    try:
        import ray
    except ImportError:
        raise KilnError("--cluster needs Ray, which is not installed: pip install -e \".[cluster]\".") from None
    if ray.is_initialized():
        return ray
    try:
        if address == "auto":
            try:
                ray.init(address="auto", log_to_driver=False)
            except ConnectionError:
                print("kiln: no Ray cluster runs on this computer; starting one here.", file=sys.stderr)
                ray.init(include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise KilnError(f"cannot join the Ray cluster at {address} ({exc}). Is it running (ray start --head)?") from None
    return ray


def worker_count(ray, asked: int | None) -> tuple[int, dict]:
    """How many workers, and what each holds: one GPU each where the cluster has GPUs, else two CPUs."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    per = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 1}
    default = gpus or max(1, cpus // 2)
    return max(1, asked or default), per


def _worker_class(ray):
    @ray.remote(max_restarts=ATTEMPTS, max_task_retries=0)
    class RestoreWorker:
        """Holds the models once; restores one photo per call."""

        def __init__(self, command, args, given_mask):
            import threading

            import inference  # noqa: F401 - torchvision on a CPU torch, before spandrel
            from inference.cli.restore import _Restorer

            self.command, self.args, self.cancel = command, args, threading.Event()
            self.restorer = _Restorer(args, given_mask) if command == "restore" else None

        def restore(self, index, image, boxes):
            try:
                if self.restorer is None:
                    from inference.cli.upscale import upscale_one

                    return ("done", *upscale_one(self.args, image, index, self.cancel), None, False, None)
                return ("done", *self.restorer.recipe(image, boxes, index))
            except KilnError as exc:
                return ("failed", str(exc))

    return RestoreWorker


def run_on_cluster(args, inputs: list[Path], problems: list[str], out_dir: Path, names, extras: list[str],
                   command: str = "restore") -> int:
    """Restore (or upscale) ``inputs`` on the cluster; writes the outputs and the report → the exit status."""
    from tqdm import tqdm

    from inference.cli.restore import read_face_boxes
    from inference.files.image_io import load_mask, load_picture_with_notes

    started = time.monotonic()
    ray = connect(args.cluster)
    count, per_worker = worker_count(ray, getattr(args, "workers", None))
    given_mask = load_mask(args.mask) if getattr(args, "mask", None) else None
    kinds = ["restored", *extras] if command == "restore" else [f"x{args.scale}"]
    # 1. What is already done (every output of the photo is there), and what is left
    targets, already, to_do = {}, [], []
    for path in inputs:
        group = names.claim_group([out_dir / f"{path.stem}-{kind}.png" for kind in kinds])
        targets[path] = group
        (already if all(_complete(p) for p in group) else to_do).append(path)
    report = {"total": len(inputs) + len(problems), "workers": count, "done": [], "retried": [],
              "already_done": [str(p) for p in already],
              "failed": [{"photo": line, "reason": "could not be read"} for line in problems]}
    cls = _worker_class(ray)
    count = min(count, max(1, len(to_do)))  # a rerun with little left starts few workers
    workers = [] if not to_do else [cls.options(**per_worker, name=f"kiln-{command}-{os.getpid()}-{i}").remote(command, args, given_mask)
               for i in range(count)]
    # 2. Hand out photos, two in flight per worker; write each result as it comes
    pending, attempts, sources = {}, {}, {}
    queue, numbers = list(to_do), {path: number for number, path in enumerate(to_do, start=1)}
    lost = tuple(getattr(ray.exceptions, name) for name in ("RayActorError", "ActorUnavailableError",
                                                          "WorkerCrashedError", "ObjectLostError")
                 if hasattr(ray.exceptions, name))
    bar = tqdm(total=len(to_do), unit="photo", desc=f"{command} on {count} worker{'s' if count > 1 else ''}",
               file=sys.stderr)

    def submit(path, worker_index):
        if path not in sources:
            try:
                image, _notes, source = load_picture_with_notes(path)
            except KilnError as exc:
                report["failed"].append({"photo": str(path), "reason": str(exc)})
                bar.update(1)
                return
            sources[path] = (image, source, read_face_boxes(path) if getattr(args, "faces", None) else [])
        image, _source, boxes = sources[path]
        attempts[path] = attempts.get(path, 0) + 1
        pending[workers[worker_index].restore.remote(numbers[path], image, boxes)] = (path, worker_index)

    try:
        for turn in range(count * IN_FLIGHT_PER_WORKER):
            if queue:
                submit(queue.pop(0), turn % count)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                path, worker_index = pending.pop(ref)
                try:
                    answer = ray.get(ref)
                except lost as exc:
                    if attempts[path] < ATTEMPTS:  # the worker died: Ray restarts it; the photo goes again
                        report["retried"].append(str(path))
                        submit(path, (worker_index + 1) % count)
                        continue
                    answer = ("failed", f"its worker died {ATTEMPTS} times ({type(exc).__name__})")
                _finish(path, answer, targets[path], sources.pop(path), report, args)
                bar.update(1)
                bar.set_postfix_str(f"{len(report['failed'])} failed" if report["failed"] else path.name)
                if queue:
                    submit(queue.pop(0), worker_index)
    except KeyboardInterrupt:
        bar.close()
        _write_report(out_dir, report, to_do, started)
        print("kiln: stopped; files already written are complete, and a rerun goes on from there.", file=sys.stderr)
        return EXIT_CANCELLED
    bar.close()
    for worker in workers:
        ray.kill(worker)
    _write_report(out_dir, report, to_do, started)
    print(f"kiln: {'restored' if command == 'restore' else 'enlarged'} {len(report['done'])} of {report['total']} "
          f"photos into {out_dir} on {count} worker(s); "
          f"{len(already)} were already done; report: {out_dir / REPORT_NAME}")
    if report["failed"]:
        print(f"kiln: failed {len(report['failed'])}:", file=sys.stderr)
        for line in report["failed"]:
            print(f"  {line['photo']}: {line['reason']}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _finish(path, answer, group, kept, report, args) -> None:
    """Write one photo's outputs (the restored file last: it marks the photo done) and note it."""
    from inference.cli.restore import _gray_to_rgb as gray_to_rgb
    from inference.files.image_save import save_image
    from inference.restore.changes import changed_pixels_map

    if answer[0] != "done":
        report["failed"].append({"photo": str(path), "reason": answer[1]})
        return
    _, restored, parameters, mask, keeps_source, _faces = answer
    image, source, _boxes = kept
    target, *extra_paths = group
    wanted = (("mask", getattr(args, "save_mask", False)), ("changes", getattr(args, "changes", False)))
    extra_path = dict(zip([kind for kind, asked in wanted if asked], extra_paths))
    try:
        if "mask" in extra_path:
            save_image(extra_path["mask"], gray_to_rgb(mask))
        if "changes" in extra_path:
            save_image(extra_path["changes"], gray_to_rgb(changed_pixels_map(image, restored)))
        save_image(target, restored, parameters, source=source if keeps_source else None)
    except KilnError as exc:
        report["failed"].append({"photo": str(path), "reason": str(exc)})
        return
    report["done"].append(str(path))


def _complete(path: Path) -> bool:
    """An output written by an earlier run: there, and a whole PNG (it ends with its IEND chunk)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(-12, os.SEEK_END)
            return fh.read()[4:8] == b"IEND"
    except OSError:
        return False


def _write_report(out_dir: Path, report: dict, to_do: list[Path], started: float) -> None:
    ended = set(report["done"]) | {line["photo"] for line in report["failed"]}
    report["missing"] = [str(p) for p in to_do if str(p) not in ended]
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    (out_dir / REPORT_NAME).write_text(json.dumps(report, indent=1), encoding="utf-8")

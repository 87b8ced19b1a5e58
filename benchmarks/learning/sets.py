"""Writing a task's samples to disk in the ImageFolder layout, in parallel, once.

``root/<word>/<index>.png`` (text) or ``.wav`` (speech). A ``manifest.json`` written last records
what the folder holds; a folder whose manifest matches the request is reused as it is.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from walloc_plugins.files import atomic_write
from walloc_plugins.wav import write_wav

from .speech_data import RATE, SpeechTask
from .text_data import TextTask


def list_folder(root: Path, suffix: str) -> tuple[list[Path], np.ndarray, list[str]]:
    """Files, class indices and class names of an ImageFolder tree, in ``WlcFolder``'s order."""
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    files, targets = [], []
    for index, name in enumerate(classes):
        found = sorted(str(p) for p in (root / name).rglob(f"*{suffix}"))
        files += [Path(p) for p in found]
        targets += [index] * len(found)
    return files, np.asarray(targets, np.int64), classes


def make_set(task: TextTask | SpeechTask, root: Path, count: int, seed: int, workers: int) -> bool:
    """Write samples ``0 .. count - 1`` of ``seed`` under ``root``; False if already there."""
    manifest = {"task": type(task).__name__, "count": count, "seed": seed, **task.settings}
    path = root / "manifest.json"
    if path.is_file() and json.loads(path.read_text()) == manifest:
        return False
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    jobs = _jobs(task, count, seed, workers)
    with ProcessPoolExecutor(workers) as pool, tqdm(total=count, desc=f"making {root}", unit="sample") as bar:
        for done in pool.map(_write, [(task, root, seed, job) for job in jobs]):
            bar.update(done)
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return True


def _jobs(task: TextTask | SpeechTask, count: int, seed: int, workers: int) -> list[Sequence[int]]:
    """Index groups for the workers: runs of indices, or for speech one group per music track
    (each track is read once)."""
    if isinstance(task, TextTask):
        size = max(1, min(256, count // (4 * workers) or 1))
        return [range(i, min(count, i + size)) for i in range(0, count, size)]
    by_track: dict[int, list[int]] = defaultdict(list)
    for index in range(count):
        by_track[task.plan(seed, index)["track"]].append(index)
    return sorted(by_track.values(), key=len, reverse=True)


def _write(job: tuple[TextTask | SpeechTask, Path, int, Iterable[int]]) -> int:
    task, root, seed, indices = job
    written = 0
    if isinstance(task, TextTask):
        for index in indices:
            sample = task.sample(seed, index)
            folder = root / sample.word
            folder.mkdir(exist_ok=True)
            with atomic_write(folder / f"{index:06d}.png") as fo:
                Image.fromarray(sample.image).save(fo, "PNG", compress_level=1)
            written += 1
        return written
    indices = list(indices)
    track = task.read_track(task.plan(seed, indices[0])["track"])
    for index in indices:
        sample = task.sample(seed, index, track)
        folder = root / sample.word
        folder.mkdir(exist_ok=True)
        with atomic_write(folder / f"{index:06d}.wav") as fo:
            write_wav(fo, sample.audio, RATE)
        written += 1
    return written

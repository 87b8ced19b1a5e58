"""Converting folders of images or audio to .wlc: the engine behind ``walloc convert``.

Three parts that other writers reuse: ``plan`` lists the files of a folder as ``Job``s (one
codec per modality), ``encode_jobs`` codes them in parallel worker processes and yields the
bytes as they finish, and ``convert_folder`` writes them as a mirrored tree of .wlc files,
skipping those already there (so an interrupted run resumes). Torch-free at import: the
parent process only lists, schedules and writes; workers import the codecs.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .audiofile import AUDIO_SUFFIXES
from .errors import ContainerError, InputError
from .files import atomic_write
from .registry import get_entry
from .wlcinfo import read_header

__all__ = [
    "IMAGE_SUFFIXES",
    "ConvertReport",
    "Job",
    "convert_folder",
    "encode_file",
    "encode_jobs",
    "plan",
]

log = logging.getLogger("walloc")

IMAGE_SUFFIXES = {
    ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"
}
_PIL_MODES = {1: "L", 3: "RGB"}


@dataclass(frozen=True)
class Job:
    """One file to code: its path, its key (the relative path without suffix, ``/``-separated,
    e.g. ``cat/0001``) and the codec for its modality."""

    source: Path
    key: str
    codec: str


@dataclass
class ConvertReport:
    """What ``convert_folder`` did: files written, files skipped as already converted, and
    ``(key, error)`` for each file that could not be converted."""

    converted: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def plan(src: str | os.PathLike, codecs: Sequence[str] = ()) -> list[Job]:
    """The images and audio files under ``src`` (recursively, sorted), as jobs.

    Args:
        src: a folder, e.g. in ImageFolder layout (``src/<class>/<file>``).
        codecs: at most one codec name per modality; a modality without one gets the core's
            default (RGB images, stereo audio). Files of other types are ignored.

    Raises:
        InputError: ``src`` is not a folder, two codecs of one modality, two files that would
            get the same key (``a.png`` and ``a.jpg``), or nothing to convert.
        UnknownCodecError: an unknown codec name.
    """
    root = Path(src)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder")
    chosen = _codecs_by_modality(codecs)
    suffixes = {**dict.fromkeys(IMAGE_SUFFIXES, "image"), **dict.fromkeys(AUDIO_SUFFIXES, "audio")}
    jobs, keys = [], {}
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in suffixes and p.is_file()):
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in keys:
            raise InputError(f"{keys[key]} and {path} would both become {key}.wlc; rename one")
        keys[key] = path
        jobs.append(Job(path, key, chosen[suffixes[path.suffix.lower()]]))
    if not jobs:
        raise InputError(f"no image or audio files under {root}")
    return jobs


def encode_file(job: Job, coder: str = "webp") -> bytes:
    """The .wlc bytes of one job's file.

    Images are converted to the codec's mode (``RGB`` or ``L``, dropping any alpha, as
    torchvision's ImageFolder loader does), so that every latent of a dataset has the same
    channels; audio is resampled to the codec's rate (ffmpeg) and mono is copied to every
    channel.
    """
    from . import api

    config = get_entry(job.codec).config
    if config.modality == "image":
        import numpy as np
        from PIL import Image

        if config.channels not in _PIL_MODES:
            channels = config.channels
            raise InputError(f"codec {job.codec!r} codes {channels}-channel images, not 1 or 3")
        with Image.open(job.source) as image:
            pixels = np.asarray(image.convert(_PIL_MODES[config.channels]))
        return api.compress(pixels, job.codec, coder=coder)
    from .audiofile import read_audio

    audio, rate = read_audio(job.source, config.sample_rate)
    if audio.shape[1] != config.channels:
        if audio.shape[1] != 1:
            found = audio.shape[1]
            raise InputError(f"{found}-channel audio; codec {job.codec!r} codes {config.channels}")
        audio = audio.repeat(config.channels, axis=1)
    return api.compress(audio, job.codec, sample_rate=rate, coder=coder)


def encode_jobs(
    jobs: Sequence[Job], coder: str = "webp", workers: int | None = None
) -> Iterator[tuple[Job, bytes | None, str | None]]:
    """Code jobs in ``workers`` processes (default: one per CPU; 1 codes in this process).

    Yields ``(job, data, None)`` or, for a file that failed, ``(job, None, error message)``,
    in completion order. Each worker uses one torch thread, so N workers use N cores; at
    most ``4 * workers`` files are in flight, so memory stays bounded for any folder.
    """
    workers = workers or os.cpu_count() or 1
    if workers == 1:
        for job in jobs:
            yield (job, *_attempt(job, coder))
        return
    with cf.ProcessPoolExecutor(workers, initializer=_one_thread) as pool:
        queue = iter(jobs)
        running = {}
        try:
            while True:
                for job in queue:
                    running[pool.submit(_attempt, job, coder)] = job
                    if len(running) >= 4 * workers:
                        break
                if not running:
                    return
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    yield (running.pop(future), *future.result())
        finally:
            pool.shutdown(cancel_futures=True)


def convert_folder(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    codecs: Sequence[str] = (),
    *,
    coder: str = "webp",
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> ConvertReport:
    """Write ``dst/<key>.wlc`` for every image and audio file under ``src`` (see ``plan``).

    Files are written atomically, so one that exists is complete: it is skipped (an
    interrupted run resumes where it stopped) unless ``overwrite``. A file there that was
    written by another codec is reported as failed rather than silently kept. ``progress``
    shows a bar on stderr.
    """
    jobs = plan(src, codecs)
    target = Path(dst)
    report, pending = ConvertReport(), []
    for job in jobs:
        out = target / f"{job.key}.wlc"
        if overwrite or not out.exists():
            pending.append(job)
            continue
        found = _codec_of(out)
        if found == job.codec:
            report.skipped += 1
        else:
            message = f"{out} exists ({found}); pass --overwrite to replace it"
            report.failed.append((job.key, message))
    from tqdm import tqdm

    with tqdm(
        total=len(pending), unit="file", desc="converting", disable=not progress, leave=False
    ) as bar:
        for job, data, error in encode_jobs(pending, coder, workers):
            bar.update()
            if data is None:
                report.failed.append((job.key, str(error)))
                continue
            out = target / f"{job.key}.wlc"
            out.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(out) as fo:
                fo.write(data)
            report.converted += 1
    return report


def _codecs_by_modality(codecs: Sequence[str]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for name in codecs:
        modality = get_entry(name).config.modality
        if modality in chosen:
            given = f"{chosen[modality]}, {name}"
            raise InputError(f"two {modality} codecs given ({given}); pass one per modality")
        chosen[modality] = name
    if len(chosen) < 2:
        from .api import DEFAULT_CODECS

        chosen.setdefault("image", DEFAULT_CODECS[("image", 3)])
        chosen.setdefault("audio", DEFAULT_CODECS[("audio", 2)])
    return chosen


def _attempt(job: Job, coder: str) -> tuple[bytes | None, str | None]:
    """``encode_file``, with a failure returned as its message (one bad file stops nothing)."""
    try:
        return encode_file(job, coder), None
    except Exception as exc:  # any file may be broken in its own way; the report lists it
        return None, f"{type(exc).__name__}: {exc}"


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _codec_of(path: Path) -> str:
    try:
        return read_header(path).codec
    except (ContainerError, OSError) as exc:
        return f"not a readable .wlc file: {exc}"

"""WebDataset shards of .wlc files: the streaming form of ``walloc convert`` (``--shards``).

A shard is a POSIX (pax) tar archive holding, per sample, ``KEY.wlc`` (the file) and
``KEY.json`` (label and metadata), in the order of ``convert.plan`` (sorted paths), so the
same folder and settings always give the same shards, byte for byte. ``manifest.json`` beside
them lists every shard with its sample count, size and SHA-256, the class names and the files
that failed; it is rewritten (atomically) after each finished shard, so an interrupted run
resumes after the last finished shard. Readers: the ``webdataset`` library (its keys are the
member names up to the first dot of the file name, which is why dots in keys become ``_``)
and ``torchvision_ext.WlcShards``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .convert import Job, encode_jobs, plan
from .errors import InputError
from .files import atomic_write
from .wlcinfo import read_header

__all__ = ["MANIFEST", "ShardReport", "sample_name", "write_shards"]

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "walloc-shards/1"
SHARD_NAME = "shard-{:06d}.tar"


@dataclass
class ShardReport:
    """What ``write_shards`` did: shards and samples written now, shards already there from
    an earlier run, and ``(key, error)`` for files that could not be converted."""

    shards: int = 0
    samples: int = 0
    kept_shards: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def sample_name(key: str) -> str:
    """A key as a WebDataset sample name: dots in the file name part become ``_``."""
    folder, _, name = key.rpartition("/")
    return f"{folder}/{name.replace('.', '_')}" if folder else name.replace(".", "_")


def write_shards(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    codecs: Sequence[str] = (),
    *,
    coder: str = "webp",
    maxcount: int = 10_000,
    maxsize: int = 1 << 30,
    overwrite: bool = False,
    workers: int | None = None,
    progress: bool = False,
) -> ShardReport:
    """Encode every image and audio file under ``src`` into tar shards in ``dst``.

    Args:
        src: a folder; in ImageFolder layout (``src/<class>/<file>``) the first folder of a
            file's path is its class, stored as ``label`` (index into the sorted class names)
            and ``class`` in its JSON.
        dst: the folder for ``shard-000000.tar`` ... and ``manifest.json``.
        codecs: at most one codec per modality (as ``convert.plan``).
        maxcount: samples per shard at most.
        maxsize: bytes per shard at most (a single larger sample still gets a shard).
        overwrite: start again even if ``dst`` holds shards from an earlier run.
        workers: encoding processes (default: one per CPU).
        progress: a progress bar on stderr.

    Raises:
        InputError: bad limits, a source file whose key collides with another's after
            ``sample_name``, or ``dst`` holding shards made with other settings (without
            ``overwrite``).
    """
    if maxcount < 1 or maxsize < 1:
        raise InputError(f"maxcount and maxsize must be positive, got {maxcount} and {maxsize}")
    jobs = plan(src, codecs)
    names = _sample_names(jobs)
    classes = sorted({_class_of(job.key) for job in jobs} - {""})
    settings = {"codecs": sorted({job.codec for job in jobs}), "coder": coder, "maxcount": maxcount, "maxsize": maxsize}
    target = Path(dst)
    target.mkdir(parents=True, exist_ok=True)
    manifest = _resume(target / MANIFEST, settings, classes, overwrite)
    report = ShardReport(kept_shards=len(manifest["shards"]))
    pending = jobs[manifest["next"] :]
    from tqdm import tqdm

    with tqdm(total=len(jobs), initial=len(jobs) - len(pending), unit="file", desc="sharding",
              disable=not progress, leave=False) as bar:
        shard = _ShardWriter(target, len(manifest["shards"]))
        for index, (job, data, error) in enumerate(_in_order(pending, encode_jobs(pending, coder, workers)), manifest["next"]):
            bar.update()
            if data is None:
                manifest["failed"].append({"key": job.key, "error": error})
                report.failed.append((job.key, str(error)))
                continue
            sample = _sample(job, names[job.key], data, classes)
            if shard.count and (shard.count >= maxcount or shard.size + _tar_size(sample) > maxsize):
                _finish(shard, manifest, index, target, report)
                shard = _ShardWriter(target, len(manifest["shards"]))
            shard.add(sample)
        if shard.count:
            _finish(shard, manifest, len(jobs), target, report)
    manifest["next"], manifest["complete"] = len(jobs), True
    _write_manifest(target / MANIFEST, manifest)
    return report


# -- samples --------------------------------------------------------------------------------
def _sample(job: Job, name: str, data: bytes, classes: list[str]) -> dict[str, bytes]:
    header = read_header(data)
    label = _class_of(job.key)
    meta: dict[str, Any] = {
        "key": job.key,
        "source": PurePosixPath(job.key).with_name(job.source.name).as_posix(),  # relative to SRC
        "class": label or None,
        "label": classes.index(label) if label else None,
        "codec": header.codec,
        "modality": header.modality,
    }
    if header.modality == "image":
        meta.update(size=list(header.size), mode=header.mode)
    else:
        meta.update(samples=header.num_samples, channels=header.channels, sample_rate=header.sample_rate)
    return {"name": name.encode(), f"{name}.wlc": data, f"{name}.json": json.dumps(meta, sort_keys=True).encode()}


def _class_of(key: str) -> str:
    return key.split("/", 1)[0] if "/" in key else ""


def _sample_names(jobs: Sequence[Job]) -> dict[str, str]:
    names: dict[str, str] = {}
    seen: dict[str, str] = {}
    for job in jobs:
        name = sample_name(job.key)
        if name in seen:
            raise InputError(f"{seen[name]} and {job.key} both become sample {name!r} in a shard; rename one")
        names[job.key] = seen[name] = name
    return names


def _in_order(jobs: Sequence[Job], results: Iterator[tuple[Job, bytes | None, str | None]]) -> Iterator[tuple[Job, bytes | None, str | None]]:
    """Results in the order of ``jobs`` (workers finish out of order), so shards are reproducible."""
    waiting: dict[str, tuple[Job, bytes | None, str | None]] = {}
    position = 0
    for result in results:
        waiting[result[0].key] = result
        while position < len(jobs) and jobs[position].key in waiting:
            yield waiting.pop(jobs[position].key)
            position += 1


# -- tar ------------------------------------------------------------------------------------
class _ShardWriter:
    """One shard being filled in memory, written atomically by ``_finish``."""

    def __init__(self, folder: Path, number: int) -> None:
        self.path = folder / SHARD_NAME.format(number)
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)
        self.count = 0
        self.first_key: str | None = None
        self.last_key: str | None = None

    @property
    def size(self) -> int:
        return self.buffer.tell()

    def add(self, sample: dict[str, bytes]) -> None:
        for member, payload in sample.items():
            if member == "name":
                continue
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(payload), 0o444, 0  # reproducible bytes
            self.tar.addfile(info, io.BytesIO(payload))
        self.count += 1
        self.last_key = sample["name"].decode()
        self.first_key = self.first_key or self.last_key


def _tar_size(sample: dict[str, bytes]) -> int:
    """Bytes a sample adds to a tar: a 512-byte header (pax may add one more) and padded data."""
    return sum(1024 + -(-len(payload) // 512) * 512 for member, payload in sample.items() if member != "name")


def _finish(shard: _ShardWriter, manifest: dict, next_index: int, folder: Path, report: ShardReport) -> None:
    shard.tar.close()
    data = shard.buffer.getvalue()
    with atomic_write(shard.path) as fo:
        fo.write(data)
    manifest["shards"].append({
        "name": shard.path.name, "samples": shard.count, "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(), "first": shard.first_key, "last": shard.last_key,
    })
    manifest["next"] = next_index
    manifest["samples"] = sum(entry["samples"] for entry in manifest["shards"])
    _write_manifest(folder / MANIFEST, manifest)
    report.shards += 1
    report.samples += shard.count


# -- manifest -------------------------------------------------------------------------------
def _resume(path: Path, settings: dict, classes: list[str], overwrite: bool) -> dict:
    fresh = {"format": MANIFEST_FORMAT, "settings": settings, "classes": classes, "shards": [], "samples": 0,
             "failed": [], "next": 0, "complete": False}
    if overwrite or not path.exists():
        return fresh
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable shard manifest ({exc}); pass --overwrite to start again") from None
    if found.get("format") != MANIFEST_FORMAT or found.get("settings") != settings or found.get("classes") != classes:
        raise InputError(
            f"{path.parent} holds shards made with other settings or files ({found.get('settings')}); "
            "pass --overwrite to replace them"
        )
    return found


def _write_manifest(path: Path, manifest: dict) -> None:
    with atomic_write(path) as fo:
        fo.write((json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())

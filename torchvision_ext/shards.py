"""Streaming WebDataset shards of .wlc files (``walloc convert SRC DST --shards``) into PyTorch.

Two readers of the same tar shards: ``WlcShards``, an ``IterableDataset`` of ``(sample,
label)`` whose ``DataLoader`` workers split the shards between them, and ``wds_decoder``, the
hook that makes the ``webdataset`` library decode ``.wlc`` members::

    wds.WebDataset(urls).decode(wds_decoder("latent"))
"""

from __future__ import annotations

import json
import os
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch.utils.data import IterableDataset, get_worker_info

from walloc_plugins.errors import InputError
from walloc_plugins.shards import MANIFEST

from .io import decode_wlc, read_latent

__all__ = ["WlcShards", "wds_decoder"]

Output = Literal["latent", "image"]


def wds_decoder(output: Output = "latent") -> Callable[[str, bytes], Any]:
    """A ``webdataset`` decoder handler for ``.wlc`` members (others pass through).

    ``"latent"`` gives the stored int8 latent (entropy decoding only), ``"image"`` the
    decoded uint8 ``(C, H, W)`` image.
    """
    _check_output(output)

    def decode(key: str, data: bytes) -> Any:
        if not key.lower().endswith(".wlc"):
            return None
        return _decode(data, output)

    return decode


class WlcShards(IterableDataset):
    """``(sample, label)`` pairs streamed from .wlc tar shards, shard by shard.

    Args:
        source: the shard folder (its ``manifest.json`` lists the shards) or tar paths.
        output: ``"latent"`` (the int8 latent, no decoder run) or ``"image"`` (uint8
            ``(C, H, W)``).
        transform, target_transform: applied to the sample and to the label (the class index
            from the sample's JSON; -1 for files outside a class folder).
        shuffle_shards: visit the shards in a random order that changes with ``set_epoch``.
        seed: the base of that order.

    With ``DataLoader(num_workers=N)`` worker ``i`` reads shards ``i, i + N, ...``, so every
    sample comes once per epoch; under ``torch.distributed`` each rank first takes its share.
    Use at least as many shards as ranks times workers.
    """

    def __init__(
        self,
        source: str | os.PathLike | Sequence[str | os.PathLike],
        output: Output = "latent",
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
        *,
        shuffle_shards: bool = False,
        seed: int = 0,
    ) -> None:
        _check_output(output)
        self.shards = _shard_paths(source)
        self.output = output
        self.transform, self.target_transform = transform, target_transform
        self.shuffle_shards, self.seed, self.epoch = shuffle_shards, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Change the shard order (with ``shuffle_shards``) for the next pass."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        for shard in self._my_shards():
            for data, meta in _samples(shard):
                sample = _decode(data, self.output)
                label = meta.get("label")
                target = -1 if label is None else label
                if self.transform is not None:
                    sample = self.transform(sample)
                if self.target_transform is not None:
                    target = self.target_transform(target)
                yield sample, target

    def _my_shards(self) -> list[Path]:
        shards = list(self.shards)
        if self.shuffle_shards:
            order = torch.randperm(len(shards), generator=torch.Generator().manual_seed(self.seed + self.epoch))
            shards = [shards[i] for i in order.tolist()]
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            shards = shards[torch.distributed.get_rank() :: torch.distributed.get_world_size()]
        worker = get_worker_info()
        if worker is not None:
            shards = shards[worker.id :: worker.num_workers]
        return shards

    def __repr__(self) -> str:
        return f"WlcShards(shards={len(self.shards)}, output={self.output!r}, shuffle_shards={self.shuffle_shards})"


def _shard_paths(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        manifest = Path(source) / MANIFEST
        if not manifest.is_file():
            raise InputError(f"{source} has no {MANIFEST}; make shards with walloc convert SRC DST --shards")
        return [Path(source) / entry["name"] for entry in json.loads(manifest.read_text())["shards"]]
    paths = [Path(source)] if isinstance(source, (str, os.PathLike)) else [Path(p) for p in source]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing or not paths:
        raise InputError(f"no such shard: {missing[:3] or 'none given'}")
    return paths


def _samples(shard: Path) -> Iterator[tuple[bytes, dict]]:
    """``(wlc bytes, metadata)`` per sample of a shard, read as a stream."""
    current, parts = None, {}
    with tarfile.open(shard, mode="r|") as tar:
        for member in tar:
            if not member.isfile():
                continue
            folder, _, file = member.name.rpartition("/")
            stem, _, extension = file.partition(".")
            name = f"{folder}/{stem}"
            if name != current and parts:
                yield _sample(shard, current, parts)
                parts = {}
            current = name
            parts[extension] = tar.extractfile(member).read()  # type: ignore[union-attr]
    if parts:
        yield _sample(shard, current, parts)


def _sample(shard: Path, name: str | None, parts: dict[str, bytes]) -> tuple[bytes, dict]:
    if "wlc" not in parts:
        raise InputError(f"sample {name} in {shard} has no .wlc member")
    return parts["wlc"], json.loads(parts["json"]) if "json" in parts else {}


def _decode(data: bytes, output: Output) -> torch.Tensor:
    if output == "latent":
        return read_latent(data)
    return decode_wlc(torch.frombuffer(bytearray(data), dtype=torch.uint8))


def _check_output(output: str) -> None:
    if output not in ("latent", "image"):
        raise InputError(f"output must be 'latent' or 'image', got {output!r}")

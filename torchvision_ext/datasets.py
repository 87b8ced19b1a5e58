"""Folders of .wlc files as datasets, in torchvision's ``ImageFolder`` layout.

``root/<class>/**/*.wlc``: the class is the first-level sub-folder (sorted names give the
indices). ``walloc convert SRC DST`` writes this layout from an image folder. torchvision's own
``ImageFolder`` reads it too, given ``is_valid_file=is_wlc_file`` (its default extension list
skips ``.wlc``) and, for latents, ``loader=read_latent``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset

from walloc_plugins.errors import InputError

from .io import decode_wlc, read_latent

__all__ = ["WlcFolder", "is_wlc_file", "wlc_loader"]


def is_wlc_file(path: str | os.PathLike) -> bool:
    """True for a ``.wlc`` name (torchvision's ``is_valid_file``)."""
    return str(path).lower().endswith(".wlc")


def wlc_loader(path: str | os.PathLike) -> Any:
    """Decode a .wlc image to a PIL image, as torchvision's default loader does for others."""
    from PIL import Image

    from walloc_plugins import api

    return Image.fromarray(api.read_image(path).decode())


class WlcFolder(Dataset):
    """``(sample, class_index)`` pairs from a folder of .wlc files in the ImageFolder layout.

    Args:
        root: the folder whose sub-folders are the classes.
        output: ``"latent"`` (default) gives the int8 latent each file stores, by entropy
            decoding only (``read_latent``: ``(D, h, w)`` for images, ``(D, t)`` for audio);
            ``"image"`` gives the decoded image as a uint8 ``(C, H, W)`` tensor.
        transform, target_transform: applied to the sample and to the class index.

    Attributes:
        classes, class_to_idx, samples, targets: as in ``torchvision.datasets.ImageFolder``.

    Raises:
        FileNotFoundError: ``root`` has no class folder, or a class folder holds no .wlc file.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        output: Literal["latent", "image"] = "latent",
        transform: Callable[[Any], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
    ) -> None:
        if output not in ("latent", "image"):
            raise InputError(f"output must be 'latent' or 'image', got {output!r}")
        self.root, self.output = Path(root), output
        self.transform, self.target_transform = transform, target_transform
        self.classes = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())
        if not self.classes:
            raise FileNotFoundError(f"no class folders in {self.root}: expected root/<class>/*.wlc")
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples: list[tuple[str, int]] = []
        for name in self.classes:
            found = (self.root / name).rglob("*")
            files = sorted(str(p) for p in found if is_wlc_file(p) and p.is_file())
            if not files:
                raise FileNotFoundError(f"class folder {self.root / name} holds no .wlc file")
            self.samples += [(path, self.class_to_idx[name]) for path in files]
        self.targets = [target for _, target in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[index]
        sample = read_latent(path) if self.output == "latent" else decode_wlc(path)
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target

    def __repr__(self) -> str:
        return (
            f"WlcFolder(root={str(self.root)!r}, output={self.output!r}, "
            f"samples={len(self)}, classes={len(self.classes)})"
        )

"""The codecs and entropy coders shipped in walloc-plugins, declared through the public hooks."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .config import CodecConfig
from .entropy import EntropyCoder, WebPCoder, ZlibCoder
from .hookspecs import hookimpl
from .reference import folder_entry
from .registry import CodecEntry

MODELS = Path(__file__).with_name("models")


MODELS_ENV = "WALLOC_MODELS"  # folders of the user's own codecs, os.pathsep-separated


@hookimpl
def walloc_codec_entries() -> list[CodecEntry]:
    """One entry per ``models/<name>.json`` card, whose weights are ``models/<name>.pt``."""
    return _folder_entries(MODELS)


class UserModels:
    """Codecs in the folders named by ``$WALLOC_MODELS``: what ``walloc train`` writes, and the
    authors' published checkpoints (``NAME.pth`` with their ``NAME.json``)."""

    @hookimpl
    def walloc_codec_entries(self) -> list[CodecEntry]:
        folders = [Path(f) for f in os.environ.get(MODELS_ENV, "").split(os.pathsep) if f]
        return [entry for folder in folders for entry in _folder_entries(folder)]


def _folder_entries(folder: Path) -> list[CodecEntry]:
    entries = []
    for card in sorted(folder.glob("*.json")):
        if card.with_suffix(".pt").is_file():
            entries.append(_entry(card))
        elif card.with_suffix(".pth").is_file():
            entries.append(folder_entry(card))
    return entries


@hookimpl
def walloc_entropy_coders() -> list[EntropyCoder]:
    return [
        WebPCoder(),
        WebPCoder(name="webp-max", method=6, quality=100),
        ZlibCoder(),
    ]


def _entry(card: Path) -> CodecEntry:
    data = json.loads(card.read_text(encoding="utf-8"))
    return CodecEntry(
        name=data.get("name", card.stem),
        config=CodecConfig.from_dict(data["config"]),
        weights=card.with_suffix(".pt"),
        sha256=data["sha256"],
        description=data.get("description", ""),
        meta=data.get("meta", {}),
    )

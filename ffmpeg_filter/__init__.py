"""WaLLoC audio in ffmpeg pipelines: the ``walloc-ffmpeg`` pipe filter and Python helpers.

ffmpeg cannot load a new codec, so WaLLoC joins its pipelines as a filter process on stdin
and stdout (``walloc-ffmpeg encode | decode | filter``, see docs/ffmpeg.md). The same
pipelines are functions on binary streams (``encode_stream``, ``decode_stream``,
``filter_stream``), and ``encode_file`` / ``decode_file`` run ffmpeg (through ffmpeg-python)
for every other format. Importing this package loads neither torch nor ffmpeg-python.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "FfmpegError",
    "RawFormat",
    "StreamReport",
    "decode_file",
    "decode_stream",
    "encode_file",
    "encode_stream",
    "filter_stream",
]

_LAZY = {
    "FfmpegError": "transcode",
    "decode_file": "transcode",
    "encode_file": "transcode",
    "RawFormat": "pcm",
    "StreamReport": "stream",
    "decode_stream": "stream",
    "encode_stream": "stream",
    "filter_stream": "stream",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ffmpeg_filter' has no attribute {name!r}")

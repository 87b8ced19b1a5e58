"""The ffmpeg door's entry in the ``walloc`` plugin group, so that ``walloc codecs`` lists it.

It declares no codecs or entropy coders.
"""

from __future__ import annotations

__all__: list[str] = []

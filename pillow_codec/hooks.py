"""The Pillow door's entry in the ``walloc`` plugin group, so that ``walloc codecs`` lists it.

It declares no codecs or entropy coders; loading it imports ``pillow_codec``, which registers
the WLC format with Pillow.
"""

from __future__ import annotations

__all__: list[str] = []

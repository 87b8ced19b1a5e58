"""``python -m ffmpeg_filter``: the ``walloc-ffmpeg`` command."""

from .cli import main

raise SystemExit(main())

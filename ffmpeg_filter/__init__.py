"""WaLLoC audio in ffmpeg pipelines: the ``walloc-ffmpeg`` pipe filter and Python helpers."""

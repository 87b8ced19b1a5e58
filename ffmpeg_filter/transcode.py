"""``encode_file`` and ``decode_file``: any format ffmpeg reads or writes, through ffmpeg-python.

ffmpeg runs as a child process with WAV on the pipe between it and the streaming pipeline.
ffmpeg-python's ``run()`` reads one pipe to the end before the other, which deadlocks once
ffmpeg fills the one nobody reads (64 KiB of stderr is enough); here every pipe that the
pipeline does not use is drained on its own thread.
"""

from __future__ import annotations

import collections
import contextlib
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from walloc_plugins.api import DEFAULT_CODER
from walloc_plugins.audiofile import find_ffmpeg
from walloc_plugins.errors import InputError, WallocError
from walloc_plugins.files import atomic_write

from .stream import StreamReport, decode_stream, encode_stream

__all__ = ["FfmpegError", "decode_file", "encode_file"]

STDERR_TAIL = 10  # lines of ffmpeg's stderr kept for an error message


class FfmpegError(WallocError, RuntimeError):
    """ffmpeg failed; ``stderr`` holds the last lines it wrote, ``returncode`` its exit status."""

    def __init__(self, what: str, returncode: int | None, stderr: str) -> None:
        self.returncode, self.stderr = returncode, stderr
        detail = " / ".join(line for line in stderr.splitlines() if line.strip()) or "no message"
        super().__init__(f"ffmpeg could not {what} (exit status {returncode}): {detail}")


def encode_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    codec: str | None = None,
    *,
    coder: str = DEFAULT_CODER,
    progress: bool = False,
) -> StreamReport:
    """Encode the first audio stream of any file ffmpeg reads (FLAC, MP3, a video ...) to .wlc.

    ``dst`` is written atomically: a failure leaves no file. Rate, channels and length are
    kept (see ``encode_stream``); ffmpeg decodes to float32, so nothing is lost on the way.

    Raises:
        FfmpegError: ffmpeg could not read ``src``; the message ends with its stderr.
        MissingDependencyError: no ffmpeg binary (neither on PATH nor imageio-ffmpeg's).
    """
    import ffmpeg

    command = (
        ffmpeg.input(os.fspath(src))["a:0"]
        .output("pipe:", format="wav", acodec="pcm_f32le")
        .global_args("-nostdin", "-hide_banner", "-loglevel", "error")
    )
    process = _Ffmpeg(command, f"read {src}", feed_stdin=False)
    try:
        with atomic_write(dst) as out:
            try:
                report = encode_stream(process.stdout, out, codec, coder=coder, progress=progress)
            except InputError as exc:  # ffmpeg's output was not a whole WAV: its own error says why
                process.check(cause=exc)
                raise
            process.check()
    finally:
        process.stop()
    return report


def decode_file(
    src: str | os.PathLike, dst: str | os.PathLike, *, progress: bool = False, **ffmpeg_options: Any
) -> StreamReport:
    """Decode a .wlc audio file to any format ffmpeg writes, chosen by ``dst``'s extension.

    ``ffmpeg_options`` go to ffmpeg-python's ``output()``, e.g. ``audio_bitrate="192k"`` or
    ``acodec="libopus"``. ffmpeg writes a temporary file beside ``dst`` that replaces it only
    once ffmpeg succeeded, so a failure leaves no file.

    Raises:
        ContainerError: ``src`` is not a whole .wlc audio stream.
        FfmpegError: ffmpeg could not write ``dst`` (an unknown extension, a missing encoder).
        MissingDependencyError: no ffmpeg binary.
    """
    import ffmpeg

    target = Path(dst)
    handle, temp = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}"
    )
    os.close(handle)
    process = None
    try:
        with open(src, "rb") as source:
            command = (
                ffmpeg.input("pipe:", format="wav")
                .output(temp, **ffmpeg_options)
                .overwrite_output()
                .global_args("-hide_banner", "-loglevel", "error")
            )
            process = _Ffmpeg(command, f"write {target}", feed_stdin=True)
            try:
                report = decode_stream(source, process.stdin, progress=progress)
                process.stdin.close()
            except BrokenPipeError as exc:  # ffmpeg stopped reading: its own error says why
                process.check(cause=exc)
                raise
            process.check()
        os.replace(temp, target)
        return report
    finally:
        if process is not None:
            process.stop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


class _Ffmpeg:
    """ffmpeg (a command built with ffmpeg-python) running with its stderr drained on a thread.

    We drive one pipe (its stdin, or its stdout); the other data pipe is the null device, and
    the thread keeps the last ``STDERR_TAIL`` lines of stderr for the error message.
    """

    def __init__(self, command: Any, what: str, *, feed_stdin: bool) -> None:
        self.what = what
        pipe, null = subprocess.PIPE, subprocess.DEVNULL
        self._popen = subprocess.Popen(
            command.compile(cmd=find_ffmpeg()),
            stdin=pipe if feed_stdin else null,
            stdout=null if feed_stdin else pipe,
            stderr=pipe,
        )
        self.stdin: IO[bytes] = self._popen.stdin  # type: ignore[assignment]
        self.stdout: IO[bytes] = self._popen.stdout  # type: ignore[assignment]
        self._tail: collections.deque[bytes] = collections.deque(maxlen=STDERR_TAIL)
        self._drain = threading.Thread(
            target=self._tail.extend, args=(self._popen.stderr,), daemon=True
        )
        self._drain.start()

    def check(self, cause: BaseException | None = None) -> None:
        """Close our pipe, wait for ffmpeg, raise ``FfmpegError`` (from ``cause``) if it failed."""
        if self._finish() != 0:
            raise FfmpegError(
                self.what, self._popen.returncode, b"".join(self._tail).decode(errors="replace")
            ) from cause

    def stop(self) -> None:
        """End ffmpeg if it still runs (after an error or Ctrl-C) and reap it."""
        if self._popen.poll() is None:
            self._popen.kill()
        self._finish()

    def _finish(self) -> int:
        for pipe in (self._popen.stdin, self._popen.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()  # EOF for ffmpeg's input; EPIPE for output nobody will read
        code = self._popen.wait()
        self._drain.join()
        return code

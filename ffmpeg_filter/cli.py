"""The ``walloc-ffmpeg`` command: WaLLoC audio as a pipe filter between ffmpeg processes."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from walloc_plugins.errors import WallocError

from .pcm import RAW_FORMATS, RawFormat

if TYPE_CHECKING:  # the stream module imports torch: only when a command runs
    from .stream import StreamReport

log = logging.getLogger("walloc-ffmpeg")

EPILOG = """\
examples:
  ffmpeg -i song.flac -f wav - | walloc-ffmpeg encode - song.wlc
  walloc-ffmpeg decode song.wlc - | ffmpeg -i - song.mp3
  ffmpeg -i in.mp3 -f wav - | walloc-ffmpeg filter - - | ffmpeg -i - out.flac
  ffmpeg -i in.mp3 -f f32le - | walloc-ffmpeg encode --format f32le --rate 44100 --channels 2 - x.wlc

IN and OUT are files or - for stdin / stdout. The PCM side is WAV (16/24/32-bit PCM or float,
extensible, with the unknown sizes ffmpeg writes to pipes) unless --format names raw PCM. Any
rate and channel count: audio is resampled to the codec's rate and back, and its channels
are coded in pairs by a stereo codec (mono is duplicated and averaged back; 5.1 is three
pairs); decode and filter give back the input's rate, channels and length. Output flows
frame by frame (one frame, ~3 s, of latency) with constant memory, whatever the length.
Logs go to stderr. Exit status: 0 done, 1 error, 2 bad usage,
130 interrupted (Ctrl-C), 141 the reader of OUT went away (a closed pipe).
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.run is not _decode:
        args.raw = _raw(parser, args)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("walloc-ffmpeg: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    try:
        _set_threads(args.threads)
        return args.run(args)
    except (
        BrokenPipeError
    ):  # whoever read OUT has gone: end quietly, like a process killed by SIGPIPE
        _silence_stdout()
        return 141
    except KeyboardInterrupt:
        return 130
    except (WallocError, OSError) as exc:
        log.error("error: %s", exc)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="walloc-ffmpeg",
        description="Encode, decode or filter audio streams with WaLLoC between ffmpeg processes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    verbosity = common.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="log only errors")
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="also log formats, channel groups and latency"
    )
    common.add_argument(
        "-y",
        "--overwrite",
        action="store_true",
        help="replace an existing OUT file (as ffmpeg's -y)",
    )
    common.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch threads (default 1: a filter shares the cores with the ffmpeg processes "
        "around it, and waiting threads spin on busy cores)",
    )
    common.add_argument("input", metavar="IN", help="input file, or - for stdin")
    common.add_argument("output", metavar="OUT", help="output file, or - for stdout")
    codec = argparse.ArgumentParser(add_help=False)
    codec.add_argument(
        "-c", "--codec", help="audio codec name (default: the stereo default; see `walloc codecs`)"
    )
    codec.add_argument("--coder", default="webp", help="entropy coder (default: webp)")
    raw = argparse.ArgumentParser(add_help=False)
    raw.add_argument(
        "--format",
        choices=["wav", *RAW_FORMATS],
        default="wav",
        help="PCM side: wav (default) or headerless raw PCM, as ffmpeg's -f",
    )
    raw.add_argument("--rate", type=int, help="raw input: sample rate in Hz (as ffmpeg's -ar)")
    raw.add_argument("--channels", type=int, help="raw input: channel count (as ffmpeg's -ac)")

    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    enc = sub.add_parser("encode", parents=[common, codec, raw], help="PCM in, a .wlc stream out")
    enc.set_defaults(run=_encode)
    dec = sub.add_parser("decode", parents=[common], help="a .wlc stream in, PCM out")
    dec.add_argument(
        "--format",
        choices=["wav", *RAW_FORMATS],
        default="wav",
        help="output: 16-bit wav (default) or raw PCM, at the rate and channels the encoder had",
    )
    dec.set_defaults(run=_decode)
    fil = sub.add_parser(
        "filter",
        parents=[common, codec, raw],
        help="PCM in, PCM out through the codec (encode, then decode), in one pass",
    )
    fil.set_defaults(run=_filter)
    return parser


def _encode(args: argparse.Namespace) -> int:
    from .stream import encode_stream

    return _stream(args, encode_stream, "encoded", codec=args.codec, coder=args.coder, raw=args.raw)


def _decode(args: argparse.Namespace) -> int:
    from .stream import decode_stream

    return _stream(args, decode_stream, "decoded", output_format=args.format)


def _filter(args: argparse.Namespace) -> int:
    from .stream import filter_stream

    return _stream(args, filter_stream, "filtered", codec=args.codec, coder=args.coder, raw=args.raw)


def _stream(args: argparse.Namespace, run: Callable[..., StreamReport], done: str, **options: Any) -> int:
    """Run one of the stream functions from the input to the output named on the command line."""
    with _open_in(args.input) as src, _open_out(args.output, args.overwrite) as dst:
        report = run(src, dst, progress=not args.quiet, **options)
    log.info(report.summary(done))
    return 0


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(1, threads))


def _raw(parser: argparse.ArgumentParser, args: argparse.Namespace) -> RawFormat | None:
    """The raw input format the options describe, or None for WAV; bad combinations exit 2."""
    if args.format == "wav":
        if args.rate is not None or args.channels is not None:
            parser.error(
                "--rate and --channels describe raw input (--format s16le|f32le); WAV has a header"
            )
        return None
    if args.rate is None or args.channels is None:
        parser.error(f"raw {args.format} input needs --rate and --channels")
    return RawFormat(args.format, args.rate, args.channels)


@contextlib.contextmanager
def _open_in(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        yield sys.stdin.buffer
    else:
        with open(name, "rb") as fo:
            yield fo


@contextlib.contextmanager
def _open_out(name: str, overwrite: bool) -> Iterator[IO[bytes]]:
    """stdout, or a file written atomically: on any error or Ctrl-C no partial file remains."""
    from walloc_plugins.files import atomic_write

    if name != "-":
        if not overwrite and os.path.exists(name):
            raise WallocError(f"{name} exists; pass -y to replace it")
        with atomic_write(name) as fo:
            yield fo
        return
    if sys.stdout.isatty():
        raise WallocError("refusing to write binary audio to a terminal; redirect or pipe OUT")
    yield sys.stdout.buffer
    sys.stdout.buffer.flush()


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the interpreter's last flush cannot fail."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())

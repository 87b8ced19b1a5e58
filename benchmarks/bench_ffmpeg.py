"""walloc-ffmpeg on long music streams: real-time factors of encode, decode and filter, and the
peak memory of the command as the stream grows, against ffmpeg's Opus and FLAC encoders fed
the same stream in the same run.

The stream is real music (the ``get-music.sh dev`` tracks, else ``audio/dev``'s 44.1 kHz
clips) looped to the requested length and generated on the fly as what ``ffmpeg -f wav -``
writes to a pipe: 16-bit WAV with unknown sizes. Nothing is stored.

* in-process: ``encode_stream`` / ``decode_stream`` / ``filter_stream`` on a ``--minutes``
  stream at 44.1 kHz and, resampled both ways, at 48 kHz; the best and median of
  ``--repeat`` runs, torch on ``--threads`` threads (the command's default is 1).
* process: ``python -m ffmpeg_filter encode - x.wlc``, ``decode x.wlc -`` and ``filter - -``
  fed and drained through real pipes, for each of ``--memory-minutes``: wall time including
  start-up (Python, torch, the codec) and the child's peak RSS (``wait4``), so memory can be
  compared across stream lengths. ffmpeg's libopus (24 kbit/s) and FLAC encoders take the same
  ``--minutes`` stream as baselines.
* frame joints: for a minute of each track (from 0:30), the SNR of the streamed decode (``filter``)
  against the whole-signal decode (the codec on the whole minute at once: no frames), and the
  error within 64 samples of a frame joint over the error elsewhere, for both decodes.

    /work/runs/quiet.sh python benchmarks/bench_ffmpeg.py        # table + results/ffmpeg.json
    python benchmarks/bench_ffmpeg.py --minutes 2 --memory-minutes 1 2 --repeat 1   # quick
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import env_info, print_table, write_json

from ffmpeg_filter import StreamReport, decode_stream, encode_stream, filter_stream
from walloc_plugins.audiofile import find_ffmpeg, read_audio
from walloc_plugins.wav import write_wav_header

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PIECE = 1 << 20  # bytes per write into a pipe


def load_tape(rate: int, seconds: float) -> tuple[np.ndarray, list[str]]:
    """Real stereo music at ``rate`` as int16 ``[T, 2]``: whole tracks until ``seconds`` are in."""
    tracks = sorted((DATA / "music" / "dev").glob("*.flac"))
    if not tracks:
        print(
            "music/dev absent (../shared/data/get-music.sh dev); looping audio/dev clips",
            file=sys.stderr,
        )
        tracks = [
            p for p in sorted((DATA / "audio" / "dev").glob("music-*.flac")) if "5.1" not in p.name
        ]
    pieces, names, total = [], [], 0
    for path in tracks:
        audio, _ = read_audio(path, rate)
        if audio.shape[1] != 2:
            continue
        pieces.append(np.round(np.clip(audio, -1, 1 - 2**-15) * 32768).astype("<i2"))
        names.append(path.name)
        total += len(audio)
        if total >= seconds * rate:
            break
    return np.concatenate(pieces), names


def wav_stream(tape: np.ndarray, rate: int, seconds: float) -> Iterator[bytes]:
    """A WAV stream with unknown sizes of ``seconds`` of ``tape`` (looped), in pieces."""
    header = io.BytesIO()
    write_wav_header(header, rate, 2, None, 16)
    yield header.getvalue()
    left, at, step = int(seconds * rate), 0, PIECE // 4
    while left:
        take = min(step, left, len(tape) - at)
        yield tape[at : at + take].tobytes()
        left -= take
        at = (at + take) % len(tape)


class Reader(io.RawIOBase):
    """A readable binary stream over an iterator of byte pieces (a pipe, in-process)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces, self._rest = pieces, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._rest:
            self._rest = next(self._pieces, b"")
            if not self._rest:
                return 0
        size = min(len(buffer), len(self._rest))
        buffer[:size], self._rest = self._rest[:size], self._rest[size:]
        return size


class Sink(io.RawIOBase):
    """Counts what is written and keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.bytes += len(data)
        return len(data)


def in_process_rows(tapes: dict[int, np.ndarray], minutes: float, repeat: int) -> list[dict]:
    rows = []
    seconds = minutes * 60
    for rate, tape in tapes.items():
        coded = io.BytesIO()
        encode_stream(io.BufferedReader(Reader(wav_stream(tape, rate, seconds)), PIECE), coded)
        for name in ("encode", "decode", "filter"):
            times, cpu = [], []
            for _ in range(repeat):
                start, clock = time.perf_counter(), time.process_time()
                report = run_case(name, tape, rate, seconds, coded.getvalue())
                times.append(time.perf_counter() - start)
                cpu.append(time.process_time() - clock)
            rows.append(
                {
                    "case": f"{name} {rate / 1000:g} kHz (in-process)",
                    "minutes": minutes,
                    "seconds": min(times),
                    "median_s": statistics.median(times),
                    "cpu_s": min(cpu),
                    "realtime": seconds / min(times),
                    "kbit_s": report.coded_bytes * 8 / seconds / 1000,
                }
            )
    return rows


def run_case(name: str, tape: np.ndarray, rate: int, seconds: float, coded: bytes) -> StreamReport:
    """One in-process pipeline: the generated WAV (or ``coded``) in, a sink that counts out."""
    pcm = io.BufferedReader(Reader(wav_stream(tape, rate, seconds)), PIECE)
    out = io.BufferedWriter(Sink(), PIECE)
    if name == "encode":
        return encode_stream(pcm, out)
    if name == "decode":
        return decode_stream(io.BytesIO(coded), out)
    return filter_stream(pcm, out)


def child(command: list[str], feed: Iterator[bytes] | None) -> tuple[float, float, int]:
    """Run ``command`` with ``feed`` on its stdin and its stdout drained: wall seconds, peak RSS
    in MiB and bytes of output.

    The peak is the child's VmHWM, polled: ``wait4``'s ``ru_maxrss`` would include the
    benchmark's own memory, which a forked child holds until it executes the command.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE if feed else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    peak, done = [0], threading.Event()

    def write() -> None:
        with process.stdin:  # type: ignore[union-attr]
            for piece in feed:  # type: ignore[union-attr]
                process.stdin.write(piece)  # type: ignore[union-attr]

    def watch() -> None:
        status = Path(f"/proc/{process.pid}/status")
        while not done.is_set():
            with contextlib.suppress(OSError, StopIteration):
                line = next(x for x in status.read_text().splitlines() if x.startswith("VmHWM:"))
                peak[0] = max(peak[0], int(line.split()[1]))
            done.wait(0.01)

    threads = [threading.Thread(target=watch)] + ([threading.Thread(target=write)] if feed else [])
    for thread in threads:
        thread.start()
    output = 0
    while piece := process.stdout.read(PIECE):  # type: ignore[union-attr]
        output += len(piece)
    code = process.wait()
    done.set()
    for thread in threads:
        thread.join()
    if code:
        raise RuntimeError(f"{command} exited with {code}")
    return time.perf_counter() - start, peak[0] / 1024, output


def process_rows(
    tape: np.ndarray, lengths: list[float], minutes: float, threads: int
) -> list[dict]:
    command = [sys.executable, "-m", "ffmpeg_filter"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        coded = str(Path(folder) / "stream.wlc")
        for length in lengths:
            seconds = length * 60
            runs = {
                "encode": (
                    [*command, "encode", "-q", "-y", "--threads", str(threads), "-", coded],
                    wav_stream(tape, 44100, seconds),
                ),
                "decode": ([*command, "decode", "-q", "--threads", str(threads), coded, "-"], None),
                "filter": (
                    [*command, "filter", "-q", "--threads", str(threads), "-", "-"],
                    wav_stream(tape, 44100, seconds),
                ),
            }
            for name, (args, feed) in runs.items():
                wall, peak, _ = child(args, feed)
                rows.append(
                    {
                        "case": f"walloc-ffmpeg {name} (process)",
                        "minutes": length,
                        "seconds": wall,
                        "realtime": seconds / wall,
                        "peak_mib": peak,
                    }
                )
        ffmpeg = [find_ffmpeg(), "-v", "error", "-f", "wav", "-i", "-"]
        for name, options in (
            ("ffmpeg libopus 24k", ["-c:a", "libopus", "-b:a", "24k", "-f", "ogg"]),
            ("ffmpeg flac", ["-c:a", "flac", "-f", "flac"]),
        ):
            wall, peak, size = child(
                [*ffmpeg, *options, "-"], wav_stream(tape, 44100, minutes * 60)
            )
            rows.append(
                {
                    "case": f"{name} (process)",
                    "minutes": minutes,
                    "seconds": wall,
                    "realtime": minutes * 60 / wall,
                    "peak_mib": peak,
                    "kbit_s": size * 8 / minutes / 60 / 1000,
                }
            )
    return rows


def joint_rows(seconds: float = 60) -> list[dict]:
    """Frame joints: what framing changes, and the error next to the joints (see the docstring)."""
    from walloc_plugins.api import DEFAULT_CODECS, audio_overlap
    from walloc_plugins.registry import load_codec
    from walloc_plugins.wav import read_wav, write_wav

    model = load_codec(DEFAULT_CODECS[("audio", 2)])
    hop = model.config.frame_length - audio_overlap(model.config)
    tracks = sorted((DATA / "music" / "dev").glob("*.flac"))
    rows = []
    for path in tracks or sorted((DATA / "audio" / "dev").glob("music-*.flac")):
        audio = read_audio(path, 44100)[0]
        if audio.shape[1] != 2:
            continue
        if len(audio) > 44100 * (30 + seconds):  # a whole track: a minute from 0:30
            audio = audio[44100 * 30 : int(44100 * (30 + seconds))]
        wav, out = io.BytesIO(), io.BytesIO()
        write_wav(wav, audio, 44100, bits=-32)
        wav.seek(0)
        filter_stream(wav, out)
        streamed, _ = read_wav(io.BytesIO(out.getvalue()))
        whole = model.decode(model.encode(torch.from_numpy(audio.T.copy()))).numpy().T  # no frames
        distance = np.arange(len(audio)) % hop
        near = np.minimum(distance, hop - distance) < 64
        rows.append(
            {
                "track": path.name,
                "snr": _snr(audio, streamed),
                "snr_whole": _snr(audio, whole),
                "snr_vs_whole": _snr(whole, streamed),
                "joint_db": _excess(audio, streamed, near),
                "joint_db_whole": _excess(audio, whole, near),
            }
        )
    return rows


def _snr(reference: np.ndarray, decoded: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / np.sum((reference - decoded) ** 2)))


def _excess(reference: np.ndarray, decoded: np.ndarray, near: np.ndarray) -> float:
    """Mean squared error where ``near`` over where not, in dB."""
    error = np.sum((decoded - reference) ** 2, axis=1)
    return float(10 * np.log10(error[near].mean() / error[~near].mean()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--minutes", type=float, default=10, help="stream length for the speed rows"
    )
    parser.add_argument(
        "--memory-minutes",
        type=float,
        nargs="+",
        default=[1, 10, 60],
        help="stream lengths for the process rows (peak memory)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (the command's default is 1)"
    )
    parser.add_argument("--no-joints", action="store_true", help="skip the frame-joint measurement")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "ffmpeg.json"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    tape, names = load_tape(44100, min(args.minutes, 10) * 60)
    tape_48k, _ = load_tape(48000, min(args.minutes, 10) * 60)
    print(
        f"stream: {len(tape) / 44100 / 60:.1f} min of music looped ({', '.join(names)}); "
        f"load average {load:.2f} before the run",
        file=sys.stderr,
    )
    rows = in_process_rows({44100: tape, 48000: tape_48k}, args.minutes, args.repeat)
    rows += process_rows(tape, args.memory_minutes, args.minutes, args.threads)
    opus = next(r["realtime"] for r in rows if r["case"].startswith("ffmpeg libopus"))
    for row in rows:
        row["vs_opus"] = row["realtime"] / opus
    print_table(
        rows,
        [
            ("case", "case", "s"),
            ("minutes", "min", "g"),
            ("seconds", "wall s", ".2f"),
            ("median_s", "median s", ".2f"),
            ("cpu_s", "CPU s", ".2f"),
            ("realtime", "x real time", ".0f"),
            ("vs_opus", "vs Opus", ".2f"),
            ("peak_mib", "peak MiB", ".0f"),
            ("kbit_s", "kbit/s", ".1f"),
        ],
    )
    if not args.no_joints:
        joints = joint_rows()
        print()
        print_table(
            joints,
            [
                ("track", "track", "s"),
                ("snr", "SNR dB", ".2f"),
                ("snr_whole", "whole-signal SNR", ".2f"),
                ("snr_vs_whole", "streamed vs whole dB", ".1f"),
                ("joint_db", "joint excess dB", "+.2f"),
                ("joint_db_whole", "same spots, whole", "+.2f"),
            ],
        )
        rows += joints
    env = {**env_info(args.threads), "load_average": load, "tracks": names}
    path = write_json(
        args.out,
        "ffmpeg",
        "walloc-ffmpeg streams: real-time factors, peak memory, frame joints",
        env,
        rows,
    )
    print(f"json: {path}")


if __name__ == "__main__":
    main()

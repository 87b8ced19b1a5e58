"""Pillow door costs, each against a baseline timed in the same run: Image.open(...).load()
against the core decode of the same file, thumbnail() with draft() against a full decode, the
plugin's import cost, what the autoload .pth adds to interpreter start-up, and a 6000x4000
decode's time and peak memory against a whole-image decode.

    python benchmarks/bench_pillow.py                 # tables + benchmarks/results/pillow.json
    python benchmarks/bench_pillow.py --repeat 9 --threads 1 --no-big
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import env_info, print_table, time_call, write_json

import pillow_codec  # noqa: F401  (registers WLC)
import walloc_plugins as wp

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PHOTO = DATA / "images" / "dev" / "lomiri-nuthatch.png"
THUMBNAILS = {(192, 128): 2, (96, 64): 4, (48, 32): 8}  # thumbnail size -> draft scale, 768x512
AUTOLOAD_OFF = {"WALLOC_PILLOW_AUTOLOAD": "0"}
THUMBNAIL_BLOCK = 5  # thumbnails (and full decodes) timed this many in a row


def paired(
    first: Callable[[], object],
    second: Callable[[], object],
    repeat: int,
    warmup: int,
    block: int = 1,
) -> tuple[float, float]:
    """Median ms of two calls timed in alternating blocks, so that drift hits both.

    With ``block`` > 1 each block times ``block`` calls in a row after one untimed call: the
    way a program runs them in a loop (a thumbnailer makes thumbnails back to back, with its
    caches holding the small decode's data rather than the last full decode's).
    """
    for _ in range(warmup):
        first(), second()
    a, b = [], []
    for _ in range(repeat):
        for fn, times in ((first, a), (second, b)):
            times.append(time_call(fn, block, warmup=int(block > 1))["median_ms"])
    return statistics.median(a), statistics.median(b)


def decode_rows(folder: Path, repeat: int, warmup: int) -> list[dict]:
    """Image.open(path).load() against wp.decompress(path), per mode."""
    rows = []
    with Image.open(PHOTO) as photo:
        rgba = photo.convert("RGBA")
        rgba.putalpha(photo.convert("L"))
        sources = {"RGB": photo.convert("RGB"), "L": photo.convert("L"), "RGBA": rgba}
        for mode, image in sources.items():
            path = folder / f"{mode}.wlc"
            image.save(path)
            core, plugin = paired(partial(wp.decompress, path), partial(load, path), repeat, warmup)
            header = wp.read_header(path)
            rows.append(
                {
                    "case": f"768x512 {mode} ({header.codec})",
                    "core_ms": core,
                    "pillow_ms": plugin,
                    "overhead": plugin / core - 1,
                }
            )
    return rows


def load(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def thumbnail(path: Path, size: tuple[int, int], full: bool) -> None:
    """``thumbnail(size)``; with ``full``, after decoding the whole image (so no draft)."""
    image = load(path) if full else Image.open(path)
    image.thumbnail(size)


def thumbnail_rows(path: Path, repeat: int, warmup: int) -> list[dict]:
    """thumbnail() (draft picks 1/2, 1/4, 1/8) against load() then thumbnail()."""
    rows = []
    for size, scale in THUMBNAILS.items():
        slow, fast = paired(
            partial(thumbnail, path, size, True),
            partial(thumbnail, path, size, False),
            repeat,
            warmup,
            block=THUMBNAIL_BLOCK,
        )
        rows.append(
            {
                "case": f"thumbnail {size[0]}x{size[1]} (decode at 1/{scale})",
                "full_ms": slow,
                "draft_ms": fast,
                "speedup": slow / fast,
            }
        )
    return rows


def run_python(
    code: str, env: dict[str, str] | None = None, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in AUTOLOAD_OFF}
    return subprocess.run(
        [sys.executable, *options, "-c", code],
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )


def process_ms(code: str, env: dict[str, str] | None) -> float:
    """Wall time of one fresh interpreter running ``code``, start-up included."""
    start = time.perf_counter()
    run_python(code, env)
    return (time.perf_counter() - start) * 1e3


def import_ms(module: str, code: str, env: dict[str, str] | None = None) -> float:
    """Cumulative import time of ``module`` in ms from ``python -X importtime`` (median of 5)."""
    found = []
    for _ in range(5):
        stderr = run_python(code, env, ("-X", "importtime")).stderr
        line = re.search(rf"\|\s*(\d+) \|\s*{re.escape(module)}$", stderr, re.MULTILINE)
        found.append(int(line[1]) / 1e3)  # type: ignore[index]
    return statistics.median(found)


def startup_rows(path: Path, repeat: int) -> list[dict]:
    """Interpreter start-up with the autoload hook on and off, and what the plugin imports cost.

    ``WALLOC_PILLOW_AUTOLOAD=0`` still runs the .pth line and imports the (tiny) module, so the
    on/off difference is the hook and the registration; -X importtime gives the module import.
    """
    pairs = [
        ("python -c pass", "pass"),
        ("python -c 'from PIL import Image'", "from PIL import Image"),
    ]
    rows = []
    for label, code in pairs:
        on, off = [], []
        for _ in range(repeat):  # alternate, so that machine load hits both
            on.append(process_ms(code, None))
            off.append(process_ms(code, AUTOLOAD_OFF))
        with_ms, without_ms = statistics.median(on), statistics.median(off)
        rows.append(
            {
                "case": label,
                "with_ms": with_ms,
                "without_ms": without_ms,
                "added_ms": with_ms - without_ms,
            }
        )
    rows.append(
        {
            "case": "import pillow_codec_autoload at start-up (-X importtime)",
            "added_ms": import_ms("pillow_codec_autoload", "pass"),
        }
    )
    rows.append(
        {
            "case": "import pillow_codec after PIL.Image (-X importtime)",
            "added_ms": import_ms("pillow_codec", "import PIL.Image, pillow_codec", AUTOLOAD_OFF),
        }
    )
    first_open = (
        f"import time; from PIL import Image; t = time.perf_counter(); Image.open({str(path)!r}); "
        "print((time.perf_counter() - t) * 1e3)"
    )
    opens = [float(run_python(first_open).stdout) for _ in range(5)]
    rows.append(
        {
            "case": "first Image.open of a .wlc (imports the torch-free core)",
            "added_ms": statistics.median(opens),
        }
    )
    return rows


BIG = """
import re, sys, time, torch
from pathlib import Path
torch.set_num_threads({threads})
import walloc_plugins
from PIL import Image
from walloc_plugins.api import read_image
walloc_plugins.load_codec("rgb-16x-linear")

def status_mb(key):
    return int(re.search(key + r":\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) / 1024

Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) restarts from what is held now
before = status_mb("VmRSS")
start = time.perf_counter()
if sys.argv[1] == "pillow":
    Image.open({path!r}).load()
else:
    coded = read_image({path!r})
    coded.codec.decode(coded.latent)
print(time.perf_counter() - start, status_mb("VmHWM") - before)
"""


def big_rows(folder: Path, threads: int) -> list[dict]:
    """6000x4000 mosaic of dev photos: Pillow's tiled load against one whole-image decode.

    Peak memory is the growth of the resident set's high-water mark (Linux /proc/self/status
    VmHWM, reset through /proc/self/clear_refs once the codec is loaded).
    """
    photos = sorted(PHOTO.parent.glob("*.png"))
    canvas = Image.new("RGB", (8 * 768, 8 * 512))
    for i in range(64):
        with Image.open(photos[i % len(photos)]) as photo:
            canvas.paste(photo.convert("RGB"), ((i % 8) * 768, (i // 8) * 512))
    path = folder / "big.wlc"
    canvas.crop((0, 0, 6000, 4000)).save(path)
    rows = []
    for how, label in (
        ("pillow", "Image.open().load(), windows of 80x80 latent"),
        ("whole", "codec.decode() of the whole latent"),
    ):
        code = BIG.format(threads=threads, path=str(path))
        seconds, grown = map(
            float,
            subprocess.run(
                [sys.executable, "-c", code, how], capture_output=True, text=True, check=True
            ).stdout.split(),
        )
        rows.append({"case": f"6000x4000 RGB: {label}", "seconds": seconds, "peak_mb": grown})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-big", action="store_true", help="skip the 6000x4000 decode")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "pillow.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        decodes = decode_rows(folder, args.repeat, args.warmup)
        print("Image.open(path).load() against the core's wp.decompress(path), timed alternately")
        print_table(
            decodes,
            [
                ("case", "file", "s"),
                ("core_ms", "core ms", ".2f"),
                ("pillow_ms", "Pillow ms", ".2f"),
                ("overhead", "Pillow overhead", "+.1%"),
            ],
        )
        thumbs = thumbnail_rows(folder / "RGB.wlc", args.repeat, args.warmup)
        print("\nthumbnail(): draft() decodes at a reduced size, against load() then thumbnail()")
        print_table(
            thumbs,
            [
                ("case", "case", "s"),
                ("full_ms", "full decode ms", ".2f"),
                ("draft_ms", "with draft ms", ".2f"),
                ("speedup", "speed-up", ".1f"),
            ],
        )
        starts = startup_rows(folder / "RGB.wlc", max(args.repeat, 31))
        print(
            "\nstart-up and import costs (fresh interpreters; without: WALLOC_PILLOW_AUTOLOAD=0)"
        )
        print_table(
            starts,
            [
                ("case", "case", "s"),
                ("with_ms", "with hook ms", ".1f"),
                ("without_ms", "without ms", ".1f"),
                ("added_ms", "added ms", ".2f"),
            ],
        )
        bigs = [] if args.no_big else big_rows(folder, args.threads)
        if bigs:
            print(
                "\nlarge image: time and peak RSS growth past the loaded codec (one process each)"
            )
            print_table(
                bigs,
                [
                    ("case", "case", "s"),
                    ("seconds", "seconds", ".2f"),
                    ("peak_mb", "peak MB", ".0f"),
                ],
            )
    path = write_json(
        args.out,
        "pillow",
        "Pillow door: load overhead, thumbnails, import and start-up, big image",
        env_info(args.threads),
        decodes + thumbs + starts + bigs,
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DataLoader throughput for learning in the compressed domain: latents read from .wlc files
(entropy decoding only) against the same photos read as PNG and as JPEG, decoded and resized
to the same number of values, timed in the same run with the same DataLoader settings. The
last column is the work per sample in this process on one thread, without the DataLoader.

For ``rgb-16x-linear`` a 512x512 photo is a 12x64x64 latent: 49,152 values, as many as a
3x128x128 image, so the baselines resize to 1/4 per side (antialiased, torchvision's
``resize`` on the decoded uint8 tensor). Extra rows: JPEG decoded by Pillow with ``draft``
(DCT scaling to 1/4 during the decode, so almost no resize), latents from .wlc files written
with the ``zlib`` entropy coder instead of the default ``webp`` (larger files, faster to read),
and the .wlc decoded to pixels at 1/4 size (``decode_wlc(reduce=2)``).

    /work/runs/quiet.sh python benchmarks/bench_loader.py          # table + results/loader.json
    python benchmarks/bench_loader.py --images 64 --repeat 1 --workers 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.io import decode_jpeg, decode_png, read_file
from torchvision.transforms.v2 import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import env_info, print_table, write_json

from torchvision_ext import io
from walloc_plugins.convert import convert_folder
from walloc_plugins.registry import get_entry

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRAIN = DATA / "images" / "train"


class Files(Dataset):
    """Applies ``read`` to each path: the only thing that differs between the loaders."""

    def __init__(self, paths: list[Path], read: Callable[[Path], torch.Tensor]) -> None:
        self.paths, self.read = paths, read

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.read(self.paths[index])


class DecodeResize:
    """torchvision decode of PNG or JPEG bytes, then an antialiased resize by ``factor``."""

    def __init__(self, decode: Callable[[torch.Tensor], torch.Tensor], factor: int) -> None:
        self.decode, self.factor = decode, factor

    def __call__(self, path: Path) -> torch.Tensor:
        image = self.decode(read_file(str(path)))
        size = [image.shape[-2] // self.factor, image.shape[-1] // self.factor]
        return F.resize(image, size, antialias=True)


class PillowDraft:
    """Pillow JPEG decode with ``draft`` (scaled IDCT), then a resize to the exact size."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def __call__(self, path: Path) -> torch.Tensor:
        with Image.open(path) as image:
            size = (image.width // self.factor, image.height // self.factor)
            image.draft("RGB", size)
            pixels = image.convert("RGB").resize(size, Image.BILINEAR)
        return F.pil_to_tensor(pixels)


def read_reduced(path: Path) -> torch.Tensor:
    return io.decode_wlc(path, reduce=2)


def epoch_rate(loader: DataLoader) -> float:
    start = time.perf_counter()
    count = sum(len(batch) for batch in loader)
    return count / (time.perf_counter() - start)


def samples_per_second(datasets: list[Dataset], args: argparse.Namespace) -> list[float]:
    """Median samples/s of each dataset's DataLoader over ``repeat`` epochs, after a warm-up
    epoch (workers started, files in the page cache). The loaders take turns epoch by epoch,
    so that load from elsewhere on a shared machine hits them all alike."""
    loaders = [
        DataLoader(
            d, batch_size=args.batch, num_workers=args.workers, persistent_workers=args.workers > 0
        )
        for d in datasets
    ]
    for loader in loaders:
        epoch_rate(loader)
    rates = [[epoch_rate(loader) for loader in loaders] for _ in range(args.repeat)]
    return [statistics.median(column) for column in zip(*rates)]


def ms_per_file(dataset: Dataset, repeat: int) -> float:
    """Median over ``repeat`` passes of the mean time of ``dataset[i]`` in this process, on one
    thread: the work per sample without the DataLoader's inter-process transfer."""
    count = min(len(dataset), 64)
    passes = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        for index in range(count):
            dataset[index]
        passes.append((time.perf_counter() - start) / count * 1e3)
    return statistics.median(passes[1:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--codec", default="rgb-16x-linear", help="an RGB image codec")
    parser.add_argument(
        "--images", type=int, default=256, help="photos from images/train (512x512)"
    )
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--repeat", type=int, default=5, help="timed epochs per loader")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the JPEG copies")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "loader.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the workers do the work; each DataLoader worker uses one thread
    config = get_entry(args.codec).config
    factor = round(config.dimensionality_reduction**0.5)  # per side, for the same value count
    pngs = sorted(TRAIN.glob("*.png"))[: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jpegs = []
        for path in pngs:
            jpegs.append(folder / "jpeg" / f"{path.stem}.jpg")
            jpegs[-1].parent.mkdir(exist_ok=True)
            with Image.open(path) as image:
                image.convert("RGB").save(jpegs[-1], quality=args.quality)
        src = folder / "png"
        src.mkdir()
        for path in pngs:
            (src / path.name).symlink_to(path)
        convert_folder(src, folder / "wlc", [args.codec], workers=args.workers or 1)
        convert_folder(src, folder / "zlib", [args.codec], coder="zlib", workers=args.workers or 1)
        wlcs, zlibs = (sorted((folder / name).glob("*.wlc")) for name in ("wlc", "zlib"))
        loaders = [
            (f"latents from .wlc ({args.codec}, read_latent)", Files(wlcs, io.read_latent), wlcs),
            ("latents from .wlc (zlib coder), read_latent", Files(zlibs, io.read_latent), zlibs),
            (
                f"PNG decode + resize 1/{factor}",
                Files(pngs, DecodeResize(decode_png, factor)),
                pngs,
            ),
            (
                f"JPEG q{args.quality} decode + resize 1/{factor}",
                Files(jpegs, DecodeResize(decode_jpeg, factor)),
                jpegs,
            ),
            (
                f"JPEG q{args.quality}, Pillow draft + resize 1/{factor}",
                Files(jpegs, PillowDraft(factor)),
                jpegs,
            ),
            (".wlc decoded at 1/4 size (decode_wlc reduce=2)", Files(wlcs, read_reduced), wlcs),
        ]
        rates = samples_per_second([dataset for _, dataset, _ in loaders], args)
        rows = []
        for (case, dataset, files), rate in zip(loaders, rates):
            shape = tuple(dataset[0].shape)
            rows.append(
                {
                    "case": case,
                    "sample": "x".join(map(str, shape)),
                    "values": int(torch.tensor(shape).prod()),
                    "kb_per_file": sum(f.stat().st_size for f in files) / len(files) / 1024,
                    "samples_per_s": rate,
                    "ms_per_file": ms_per_file(dataset, args.repeat),
                }
            )
    jpeg = rows[3]["samples_per_s"]
    for row in rows:
        row["vs_jpeg_resize"] = row["samples_per_s"] / jpeg
    print(
        f"DataLoader over {len(pngs)} photos of 512x512 from images/train: batch {args.batch}, "
        f"{args.workers} workers, median of {args.repeat} epochs (taking turns) after a warm-up"
    )
    print_table(
        rows,
        [
            ("case", "loader", "s"),
            ("sample", "sample", "s"),
            ("values", "values", "d"),
            ("kb_per_file", "KB/file", ".1f"),
            ("samples_per_s", "samples/s", ".0f"),
            ("vs_jpeg_resize", "vs JPEG+resize", ".2f"),
            ("ms_per_file", "ms/file, 1 thread", ".2f"),
        ],
    )
    path = write_json(
        args.out,
        "loader",
        "DataLoader samples/s: .wlc latents against PNG/JPEG decode + resize",
        env_info(1) | {"workers": args.workers, "batch": args.batch, "images": len(pngs)},
        rows,
    )
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

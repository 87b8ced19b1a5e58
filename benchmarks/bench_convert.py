"""Converting a folder of photos to .wlc three ways, each reading PNGs and writing the results:

  (a) a plain loop in one process (``wp.compress`` per file, torch's default threads),
  (b) ``walloc convert SRC DST -j 2`` (worker processes, one torch thread each),
  (c) Ray Data on a local 2-CPU cluster: ``read_images`` -> ``map_batches(BatchEncoder)`` ->
      ``write_parquet``, cluster start-up timed separately (the engine's overhead).

Prints images/s and the ratio to (a), and writes JSON.

    python benchmarks/bench_convert.py                      # ../shared/data/images/train
    python benchmarks/bench_convert.py --limit 60 --no-ray  # quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import env_info, print_table, write_json  # noqa: E402

import walloc_plugins as wp  # noqa: E402
from walloc_plugins.convert import convert_folder  # noqa: E402

TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "images" / "train"
CODEC = "rgb-16x-linear"


def plain_loop(files: list[Path], out: Path) -> float:
    start = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            wp.save(out / f"{path.stem}.wlc", np.asarray(image.convert("RGB")), CODEC)
    return time.perf_counter() - start


def walloc_convert(src: Path, out: Path, workers: int) -> float:
    start = time.perf_counter()
    report = convert_folder(src, out, [CODEC], workers=workers)
    if report.failed:
        raise RuntimeError(f"walloc convert failed on {report.failed[:3]}")
    return time.perf_counter() - start


def ray_data(files: list[Path], out: Path, cpus: int) -> tuple[float, float]:
    """Seconds to start the cluster, and to convert (read, encode, write parquet)."""
    import ray

    start = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    started = time.perf_counter()
    try:
        ds = ray.data.read_images([str(f) for f in files], mode="RGB", include_paths=True)
        encoded = ds.map_batches(
            wp.BatchEncoder,
            fn_constructor_kwargs={"codec": CODEC, "threads": 1},
            compute=ray.data.ActorPoolStrategy(size=cpus),
            num_cpus=0.5,  # the encoders share the CPUs with Ray's read tasks
            batch_size=16,
            batch_format="numpy",
        )
        encoded.drop_columns(["image"]).write_parquet(str(out))
        finished = time.perf_counter()
    finally:
        ray.shutdown()
    return started - start, finished - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=TRAIN, help="folder of images (default: images/train)")
    parser.add_argument("--limit", type=int, help="use the first N files only")
    parser.add_argument("--workers", type=int, default=2, help="processes for (b), CPUs for (c)")
    parser.add_argument("--no-ray", action="store_true", help="skip (c)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "convert.json")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.src.iterdir() if p.suffix.lower() == ".png")[: args.limit]
    if not files:
        parser.error(f"no PNG files in {args.src} (run ../shared/data/get-images.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "src"
        src.mkdir()
        for path in files:  # the same files for every method
            (src / path.name).symlink_to(path)
        (tmp / "a").mkdir()
        rows = [{"method": "(a) plain loop, 1 process", "seconds": plain_loop(files, tmp / "a")}]
        rows.append({"method": f"(b) walloc convert -j {args.workers}",
                     "seconds": walloc_convert(src, tmp / "b", args.workers)})
        if not args.no_ray:
            startup, seconds = ray_data(files, tmp / "c", args.workers)
            rows.append({"method": f"(c) Ray Data, {args.workers} CPUs", "seconds": seconds,
                         "startup_s": startup})
        wlc_bytes = sum(p.stat().st_size for p in (tmp / "a").iterdir())
    for row in rows:
        row["images"] = len(files)
        row["images_per_s"] = len(files) / row["seconds"]
        row["ratio"] = rows[0]["seconds"] / row["seconds"]
    print(f"{len(files)} images from {args.src}, codec {CODEC}, {wlc_bytes / len(files) / 1e3:.1f} kB per .wlc")
    print_table(rows, [("method", "method", "s"), ("seconds", "seconds", ".1f"),
                       ("images_per_s", "images/s", ".1f"), ("ratio", "vs (a)", ".2f"),
                       ("startup_s", "engine start-up s", ".1f")])
    env = {**env_info(threads=args.workers), "codec": CODEC, "bytes_per_image": wlc_bytes / len(files)}
    print(f"\nwrote {write_json(args.out, 'convert', 'folder conversion: loop vs walloc convert vs Ray Data', env, rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

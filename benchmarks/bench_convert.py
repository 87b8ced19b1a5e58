"""Converting a folder of photos to .wlc three ways, each reading PNGs and writing the results:

  (a) a plain loop in one process (``wp.compress`` per file, torch's default threads),
  (b) ``walloc convert SRC DST -j 2`` (worker processes, one torch thread each),
  (c) Ray Data on a local 2-CPU cluster: a dataset of paths (or ``read_binary_files``) ->
      ``map_batches(BatchEncoder)`` -> ``write_parquet``.

Ray's overhead is measured, not guessed: cluster start-up is timed on its own, and the pipeline
runs on the same cluster on a small subset and on all files (best of two each). Each run pays the
same fixed cost (actors start and import torch, the pipeline fills and drains), so the two
times give the steady rate, ``(N - n) / (T_N - T_n)``, and the fixed cost, ``T_n - n / rate``.
(c) is reported end to end and at that steady rate. Prints images/s and the ratio to (a), and
writes JSON.

    python benchmarks/bench_convert.py                      # ../shared/data/images/train
    python benchmarks/bench_convert.py --limit 60 --no-ray  # quick
    python benchmarks/bench_convert.py --repeat 3           # a longer job: each file 3 times
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
from _common import env_info, print_table, write_json

import walloc_plugins as wp
from walloc_plugins.convert import convert_folder

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


def ray_data(files: list[Path], out: Path, cpus: int, subset: int, source: str) -> dict[str, float]:
    """Cluster start-up, then the pipeline on ``subset`` files and on all files: seconds.

    ``source``: ``paths`` (a dataset of file paths; the encoders read the files, as on a
    shared file system) or ``bytes`` (``read_binary_files``: read tasks ship each file's
    bytes through Ray's object store to the encoders, as from object storage).
    """
    import ray

    column = "path" if source == "paths" else "bytes"

    def run(chosen: list[Path], folder: Path) -> float:
        start = time.perf_counter()
        if source == "paths":
            ds = ray.data.from_items([{"path": str(f)} for f in chosen],
                                     override_num_blocks=max(2, len(chosen) // 16))
        else:  # encoded files cross the object store, not pixels (read_images ships 3-10x more)
            ds = ray.data.read_binary_files([str(f) for f in chosen], include_paths=True,
                                            override_num_blocks=max(2, len(chosen) // 32),
                                            num_cpus=0.1)  # light: the encoders need the CPUs
        encoded = ds.map_batches(
            wp.BatchEncoder,
            fn_constructor_kwargs={"codec": CODEC, "threads": 1, "column": column},
            compute=ray.data.ActorPoolStrategy(size=cpus),
            num_cpus=0.9,  # below 1, so write (and read) tasks still find a CPU slot
            batch_size=16,
            batch_format="numpy",
        )
        if source == "bytes":
            encoded = encoded.drop_columns(["bytes"])
        encoded.write_parquet(str(folder), ray_remote_args={"num_cpus": 0.1})
        return time.perf_counter() - start

    start = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    timings = {"startup_s": time.perf_counter() - start}
    try:  # best of two of each, alternating, so a slow moment of the machine hits neither size alone
        for attempt in range(2):
            for key, chosen in (("subset_s", files[:subset]), ("all_s", files)):
                seconds = run(chosen, out / f"{key}-{attempt}")
                timings[key] = min(seconds, timings.get(key, seconds))
    finally:
        ray.shutdown()
    rate = (len(files) - subset) / (timings["all_s"] - timings["subset_s"])
    return {**timings, "steady_images_per_s": rate, "fixed_s": timings["subset_s"] - subset / rate}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=TRAIN, help="folder of images (default: images/train)")
    parser.add_argument("--limit", type=int, help="use the first N files only")
    parser.add_argument("--workers", type=int, default=2, help="processes for (b), CPUs for (c)")
    parser.add_argument("--repeat", type=int, default=1, help="convert every file this many times "
                        "(as copies), so that a job is long enough for Ray's start-up to matter less")
    parser.add_argument("--no-ray", action="store_true", help="skip (c)")
    parser.add_argument("--ray-source", choices=["paths", "bytes"], default="bytes",
                        help="what (c)'s dataset holds: file paths that the encoders read, or the "
                        "files' bytes from read_binary_files (default: %(default)s)")
    parser.add_argument("--subset", type=int, default=64,
                        help="files in (c)'s first, small run, which measures Ray's fixed cost (default: 64)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "convert.json")
    args = parser.parse_args(argv)
    files = sorted(p for p in args.src.iterdir() if p.suffix.lower() == ".png")[: args.limit]
    if not files:
        parser.error(f"no PNG files in {args.src} (run ../shared/data/get-images.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = tmp / "src"
        src.mkdir()
        for copy in range(args.repeat):  # the same files for every method; copies make a longer job
            for path in files:
                (src / f"{copy:02d}-{path.name}").symlink_to(path)
        files = sorted(src.iterdir())
        (tmp / "a").mkdir()
        rows = [{"method": "(a) plain loop, 1 process", "seconds": plain_loop(files, tmp / "a")}]
        rows.append({"method": f"(b) walloc convert -j {args.workers}",
                     "seconds": walloc_convert(src, tmp / "b", args.workers)})
        if not args.no_ray:
            subset = min(args.subset, len(files) // 2)
            ray = ray_data(files, tmp / "c", args.workers, subset, args.ray_source)
            rows.append({"method": f"(c) Ray Data, {args.workers} CPUs, {args.ray_source}, end to end",
                         "seconds": ray["all_s"], "startup_s": ray["startup_s"], "fixed_s": ray["fixed_s"],
                         "subset_s": ray["subset_s"], "subset": subset})
            rows.append({"method": f"(c) Ray Data, {args.workers} CPUs, {args.ray_source}, steady rate",
                         "seconds": len(files) / ray["steady_images_per_s"]})
        wlc_bytes = sum(p.stat().st_size for p in (tmp / "a").iterdir())
    for row in rows:
        row["images"] = len(files)
        row["images_per_s"] = len(files) / row["seconds"]
        row["ratio"] = rows[0]["seconds"] / row["seconds"]
    print(f"{len(files)} images from {args.src}, codec {CODEC}, {wlc_bytes / len(files) / 1e3:.1f} kB per .wlc")
    print_table(rows, [("method", "method", "s"), ("seconds", "seconds", ".1f"),
                       ("images_per_s", "images/s", ".1f"), ("ratio", "vs (a)", ".2f"),
                       ("startup_s", "cluster start s", ".1f"), ("fixed_s", "fixed cost s", ".1f")])
    env = {**env_info(threads=args.workers), "codec": CODEC, "bytes_per_image": wlc_bytes / len(files)}
    print(f"\nwrote {write_json(args.out, 'convert', 'folder conversion: loop vs walloc convert vs Ray Data', env, rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Compressed-domain learning against resizing, at equal model cost, on two tasks made here.

    python benchmarks/compressed_learning.py            # the full benchmark (~90 min, 2 cores)
    python benchmarks/compressed_learning.py --quick    # a tiny run of every step (~3 min)

Text: which of 100 words is printed, a few pixels high, on a 256 x 256 crop of a real photo.
Speech: which of 20 words espeak-ng says in one second of real stereo music.
For each codec, a classifier reads (a) the signal resized to as many values as the codec's
latent (Lanczos / ideal resampling), (b) the codec's float latents, (c) its int8 latents read from
the ``.wlc`` files that ``walloc convert`` wrote, through ``torchvision_ext.WlcFolder``; the
full-resolution signal is the ceiling. Models differ only in their stem (see
``benchmarks/learning/nets.py``), so parameters and FLOPs match. Prints a table, writes JSON and
a plot of accuracy against input values to ``benchmarks/results/``.

Data sets are generated once under ``--data`` (gitignored) from ``../shared/data``: photos
``images/train`` and ``images/dev``, music ``music/train`` and ``music/dev``. They need the fonts
and espeak-ng of ``benchmarks/learning/setup_data.sh``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: import the benchmarks package and _common
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import env_info, print_table, write_json  # noqa: E402

from benchmarks.learning import inputs, sets, training  # noqa: E402
from benchmarks.learning.speech_data import SpeechTask, espeak  # noqa: E402
from benchmarks.learning.text_data import TextTask, missing_fonts  # noqa: E402
from benchmarks.learning.words import PRINTED, SPOKEN  # noqa: E402

log = logging.getLogger("compressed_learning")
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"

# Per task: samples per split, and the recipe every model of the task trains with.
FULL = {
    "text": {"train": 20000, "test": 2000, "recipe": training.Recipe(width=16, epochs=4)},
    "speech": {"train": 10000, "test": 2000, "recipe": training.Recipe(width=32, epochs=6, kernel=5, depth=2)},
}
QUICK = {
    "text": {"train": 400, "test": 200, "recipe": training.Recipe(width=8, epochs=1)},
    "speech": {"train": 300, "test": 100, "recipe": training.Recipe(width=8, epochs=1)},
}
SEEDS = {"text": (0, 10), "speech": (1, 11)}  # generator seeds of the train and test sets


def make_task(name: str) -> tuple[object, object, str]:
    """The train and test generators of a task and its modality."""
    if name == "text":
        return (TextTask(SHARED / "images" / "train"), TextTask(SHARED / "images" / "dev"), "image")
    return (SpeechTask(SHARED / "music" / "train"), SpeechTask(SHARED / "music" / "dev"), "audio")


def run_task(name: str, args: argparse.Namespace, config: dict) -> tuple[list[dict], dict]:
    """Make, encode and read the task's data, then train every kind; rows and timings."""
    train_task, test_task, modality = make_task(name)
    vocabulary = PRINTED if name == "text" else SPOKEN
    codecs = args.image_codecs if modality == "image" else args.audio_codecs
    suffix = ".png" if modality == "image" else ".wav"
    timings: dict[str, float] = {}
    folders = {}
    for split, task in (("train", train_task), ("test", test_task)):
        folder = args.data / name / split
        start = time.perf_counter()
        made = sets.make_set(task, folder, config[split], SEEDS[name][split == "test"], args.jobs,
                             str(task.photos[0].parent if modality == "image" else task.tracks[0].parent))
        if made:
            timings[f"make_{split}_s"] = time.perf_counter() - start
        folders[split] = folder
        for codec in codecs:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "walloc_plugins", "convert", str(folder),
                            str(args.data / name / f"{split}-{codec}"), "-c", codec, "-j", str(args.jobs)],
                           check=True)
            timings[f"convert_{split}_{codec}_s"] = time.perf_counter() - start

    data = {}
    for split in ("train", "test"):
        files, targets, names = sets.list_folder(folders[split], suffix)
        start = time.perf_counter()
        signals = inputs.read_signals(files, modality)
        timings[f"read_{split}_s"] = time.perf_counter() - start
        data[split] = (signals, _word_indices(targets, names, vocabulary))
    recipe = replace(config["recipe"], **{k: v for k, v in (("epochs", args.epochs),) if v})
    rows = []
    for kind in inputs.kinds(modality, codecs, args.latents):
        x, prep = {}, 0.0
        for split in ("train", "test"):
            start = time.perf_counter()
            if kind.source == "int8":
                x[split], targets, names = inputs.wlc_latents(
                    args.data / name / f"{split}-{kind.codec}", args.jobs)
                if not (_word_indices(targets, names, vocabulary) == data[split][1]).all():
                    raise RuntimeError(f"{kind.name}: .wlc classes differ from the {split} folder's")
            else:
                x[split] = inputs.derive(data[split][0], kind)
            prep += time.perf_counter() - start
        seeds = [0] if kind.source == "signal" else list(range(args.seeds))
        runs = [training.fit(x["train"], data["train"][1], x["test"], data["test"][1], kind.patch,
                             len(vocabulary), recipe, seed, f"{name} {kind.name}") for seed in seeds]
        accuracies = [r["accuracy"] for r in runs]
        row = {"task": name, "input": kind.name, "source": kind.source, "codec": kind.codec,
               "values": kind.values, "params": runs[0]["params"], "mflops": runs[0]["mflops"],
               "accuracy": statistics.mean(accuracies),
               "accuracy_std": statistics.stdev(accuracies) if len(runs) > 1 else None,
               "accuracy_min": min(accuracies), "accuracy_max": max(accuracies), "seeds": len(runs),
               "train_samples_per_s": statistics.mean(r["train_samples_per_s"] for r in runs),
               "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in runs) or None,
               "prep_ms": 1e3 * prep / (len(x["train"]) + len(x["test"])), "runs": runs}
        log.info("%s %s: %.1f%% (%s)", name, kind.name, row["accuracy"],
                 ", ".join(f"{a:.1f}" for a in accuracies))
        rows.append(row)
        del x
    timings["recipe"] = asdict(recipe)  # type: ignore[assignment]
    return rows, timings


def _word_indices(targets: np.ndarray, names: list[str], vocabulary: tuple[str, ...] | list[str]) -> np.ndarray:
    """Folder class indices (of the classes present) as indices into the task's vocabulary."""
    return np.asarray([vocabulary.index(n) for n in names], np.int64)[targets]


COLUMNS = [
    ("task", "task", ""), ("input", "input", ""), ("values", "values", "d"), ("params", "params", "d"),
    ("mflops", "MFLOP", ".1f"), ("accuracy", "acc %", ".1f"), ("accuracy_std", "+-", ".1f"),
    ("seeds", "seeds", "d"), ("train_samples_per_s", "train/s", ".0f"), ("peak_rss_mb", "peak MB", ".0f"),
    ("prep_ms", "prep ms", ".2f"),
]


def plot(rows: list[dict], path: Path) -> Path:
    """Accuracy against input values, one panel per task, error bars over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows}, key=["text", "speech"].index)
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    styles = {"signal": ("k", "*"), "resized": ("tab:red", "o"), "float": ("tab:blue", "s"),
              "int8": ("tab:green", "^")}
    for ax, task in zip(axes[0], tasks):
        for source, (colour, marker) in styles.items():
            chosen = sorted((r for r in rows if r["task"] == task and r["source"] == source),
                            key=lambda r: r["values"])
            if chosen:
                ax.errorbar([r["values"] for r in chosen], [r["accuracy"] for r in chosen],
                            yerr=[r["accuracy_std"] or 0 for r in chosen], color=colour, marker=marker,
                            capsize=3, label={"signal": "full resolution", "resized": "resized",
                                              "float": "WaLLoC float latents",
                                              "int8": "WaLLoC int8 latents (.wlc)"}[source])
        ax.set_xscale("log")
        ax.set_xlabel("input values per sample")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title({"text": "small text in photos (100 words)",
                      "speech": "spoken words in music (20 words)"}[task])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny data sets and models: checks every step")
    parser.add_argument("--tasks", nargs="+", choices=["text", "speech"], default=["text", "speech"])
    parser.add_argument("--image-codecs", nargs="+", default=["rgb-4x-linear", "rgb-16x-linear"],
                        metavar="NAME", help="image codecs (default: %(default)s)")
    parser.add_argument("--audio-codecs", nargs="+", default=["stereo-5x-linear", "stereo-20x-linear"],
                        metavar="NAME", help="audio codecs (default: %(default)s)")
    parser.add_argument("--latents", nargs="+", choices=["float", "int8"], default=["float", "int8"],
                        help="latent kinds to train on (default: both)")
    parser.add_argument("--seeds", type=int, help="seeds per resized or latent input (default 3; "
                        "the full-resolution ceiling gets one)")
    parser.add_argument("--epochs", type=int, help="override the task recipes' epochs")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="processes for data making and convert")
    parser.add_argument("--data", type=Path, help="data folder (default: benchmarks/data, or "
                        "benchmarks/data-quick with --quick)")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/"
                        "compressed_learning[-quick].json); the plot goes beside it as .png")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    stem = "compressed_learning" + ("-quick" if args.quick else "")
    args.data = args.data or ROOT / "benchmarks" / ("data-quick" if args.quick else "data")
    args.out = args.out or RESULTS / f"{stem}.json"
    args.seeds = args.seeds or (1 if args.quick else 3)
    torch.set_num_threads(args.threads)
    if "text" in args.tasks and missing_fonts():
        parser.error(f"fonts missing: {missing_fonts()[:3]}...; run benchmarks/learning/setup_data.sh")
    if "speech" in args.tasks and espeak() is None:
        parser.error("espeak-ng is not installed; run benchmarks/learning/setup_data.sh")

    configs = QUICK if args.quick else FULL
    start = time.perf_counter()
    rows, timings = [], {}
    for task in args.tasks:
        task_start = time.perf_counter()
        task_rows, timings[task] = run_task(task, args, configs[task])
        timings[task]["total_s"] = time.perf_counter() - task_start
        rows += task_rows
    timings["total_s"] = time.perf_counter() - start
    print_table(rows, COLUMNS)
    print(f"\ntotal {timings['total_s'] / 60:.1f} min; " + "; ".join(
        f"{t} {timings[t]['total_s'] / 60:.1f} min" for t in args.tasks))
    env = {**env_info(args.threads), "command": " ".join(["python", *sys.argv]), "timings": timings,
           "sizes": {t: {k: configs[t][k] for k in ("train", "test")} for t in args.tasks}}
    path = write_json(args.out, "compressed_learning", __doc__.strip().splitlines()[0], env, rows)
    print(f"wrote {path} and {plot(rows, path.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

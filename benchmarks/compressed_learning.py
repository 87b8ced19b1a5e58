"""Compressed-domain learning against resizing, at equal model cost, on two tasks made here.

    python benchmarks/compressed_learning.py            # the full benchmark (88 min on 2 cores)
    python benchmarks/compressed_learning.py --seeds 1  # one seed per input (~40 min)
    python benchmarks/compressed_learning.py --quick    # a tiny run of every step (~3 min)

Text: which of 100 words is printed, a few pixels high, on a 256 x 256 crop of a real photo.
Speech: which of 20 words espeak-ng says in one second of real stereo music.
For each codec, a classifier reads (a) the signal resized to as many values as the codec's
latent (Lanczos / ideal resampling), (b) the codec's float latents, (c) its int8 latents read from
the ``.wlc`` files that ``walloc convert`` wrote, through ``torchvision_ext.WlcFolder``; the
full-resolution signal is the ceiling. Models differ only in their stem (see
``benchmarks/learning/nets.py``), so parameters and FLOPs match. Prints a table, writes JSON and
a plot of accuracy against input values to ``benchmarks/results/``, and the table as Markdown.

Data sets are generated once under ``--data`` (gitignored) from ``../shared/data``: photos
``images/train`` and ``images/dev``, music ``music/train`` and ``music/dev``. They need the fonts
and espeak-ng of ``benchmarks/learning/setup_data.sh``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: import the benchmarks package and _common
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import env_info, markdown_table, print_table, write_json

from benchmarks.learning import inputs, runner, sets, training
from benchmarks.learning.speech_data import SpeechTask, espeak
from benchmarks.learning.text_data import TextTask, missing_fonts
from benchmarks.learning.words import PRINTED, SPOKEN
from walloc_plugins.files import atomic_write

log = logging.getLogger("compressed_learning")
SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"

# Per task: samples per split, and the recipe every model of the task trains with.
# Text: a word a few pixels high somewhere in 256 x 256 is found only after several epochs on a
# plateau at chance (pilot, 16x: loss at ln 100 for 4 epochs, then falling), so the text models
# keep the full 32 x 32 grid in a first stage and pool class scores with log-sum-exp.
# Speech: one scale for all latent channels (per-channel scaling lifted the near-silent
# high bands to the level of the informative ones: 5x latents 54-58 % against 60 %).
FULL = {
    "text": {"train": 20000, "test": 2000,
             "recipe": training.Recipe(width=32, blocks=(1, 2, 2), pool="lse", epochs=20)},
    "speech": {"train": 16000, "test": 2000,
               "recipe": training.Recipe(width=32, epochs=6, kernel=5, blocks=(0, 3, 3), norm="global")},
}
QUICK = {
    "text": {"train": 400, "test": 200, "recipe": training.Recipe(width=8, epochs=1)},
    "speech": {"train": 300, "test": 100, "recipe": training.Recipe(width=8, epochs=1)},
}
SEEDS = {"text": (0, 10), "speech": (1, 11)}  # generator seeds of the train and test sets


def make_task(name: str, shared: Path) -> tuple[TextTask | SpeechTask, TextTask | SpeechTask, str]:
    """The train and test generators of a task and its modality."""
    if name == "text":
        return (TextTask(shared / "images" / "train"), TextTask(shared / "images" / "dev"), "image")
    return (SpeechTask(shared / "music" / "train"), SpeechTask(shared / "music" / "dev"), "audio")


@dataclass
class Task:
    """A task made ready to train: its data prepared, its kinds and recipe."""

    name: str
    root: Path
    kinds: list[inputs.Kind]
    vocabulary: list[str]
    recipe: training.Recipe
    prep_ms: dict[str, float]
    timings: dict

    def saved(self, key: str, seed: int) -> Path:
        """Where a finished run is kept: a rerun skips it."""
        return self.root / "runs" / f"{key.replace('/', '-')}-seed{seed}.json"


def prepare_task(name: str, args: argparse.Namespace, config: dict) -> Task:
    """Make, encode and read the task's data."""
    modality = "image" if name == "text" else "audio"
    codecs = args.image_codecs if modality == "image" else args.audio_codecs
    vocabulary = PRINTED if name == "text" else SPOKEN
    root = args.data / name
    timings = make_data(name, args, config, codecs)
    kinds = inputs.kinds(modality, codecs, args.latents, controls=args.controls)
    start = time.perf_counter()
    prep_ms = inputs.prepare(root, kinds, vocabulary, args.jobs)
    timings["prepare_s"] = time.perf_counter() - start
    recipe = replace(config["recipe"], **({"epochs": args.epochs} if args.epochs else {}))
    timings["recipe"] = asdict(recipe)
    (root / "runs").mkdir(exist_ok=True)
    return Task(name, root, kinds, list(vocabulary), recipe, prep_ms, timings)


def train_all(tasks: list[Task], args: argparse.Namespace) -> list[dict]:
    """Train every task's kinds, ``args.seeds`` seeds each (the ceiling: one), in one pool of
    ``args.jobs`` processes: the tasks' runs in order, so the short runs of the last task fill
    the cores that the long runs of the first leave idle at its end. Returns the table rows."""
    by_key = {(task.name, kind.name): (task, kind) for task in tasks for kind in task.kinds}
    jobs = [(key, seed) for key, (_, kind) in by_key.items()
            for seed in (range(args.seeds) if kind.source in inputs.COMPARED else [0])]
    recipes = {t.name: json.loads(json.dumps(asdict(t.recipe))) for t in tasks}  # as read back (lists, not tuples)
    done = {}
    for key, seed in jobs:
        path = by_key[key][0].saved(key[1], seed)
        if path.is_file() and (result := json.loads(path.read_text()))["recipe"] == recipes[key[0]]:
            done[(key, seed)] = result
    if done:
        log.info("%d of %d runs already finished under %s", len(done), len(jobs), args.data)

    def load(key: tuple[str, str]) -> tuple:
        task, kind = by_key[key]
        return key, inputs.load(task.root, kind)

    def train(data: tuple, seed: int, slot: int) -> dict:
        task, kind = by_key[data[0]]
        result = training.fit(*data[1], kind.patch, len(task.vocabulary), task.recipe, seed,
                              f"{task.name} {kind.name}", slot)
        with atomic_write(task.saved(kind.name, seed)) as fo:
            fo.write(json.dumps(result).encode())
        return result

    def report(key: tuple[str, str], runs: list[dict]) -> None:
        log.info("%s %s: %s%%", *key, ", ".join(f"{r['accuracy']:.1f}" for r in runs))

    fresh = runner.run_jobs([job for job in jobs if job not in done], load, train, args.jobs, report)
    return [summarise(task.name, kind, [done[(key, seed)] if (key, seed) in done else fresh[key].pop(0)
                                        for k, seed in jobs if k == key], task.prep_ms[kind.name])
            for key, (task, kind) in by_key.items()]


def make_data(name: str, args: argparse.Namespace, config: dict, codecs: list[str]) -> dict:
    """Generate the task's train and test folders (once) and their .wlc copies; timings."""
    timings = {}
    for split, task in zip(("train", "test"), make_task(name, args.shared)[:2]):
        root, count = args.data / name, getattr(args, split) or config[split]
        start = time.perf_counter()
        if sets.make_set(task, root / split, count, SEEDS[name][split == "test"], args.jobs):
            timings[f"make_{split}_s"] = time.perf_counter() - start
            for stale in [root / "cache", root / "runs", *root.glob(f"{split}-*")]:  # from the old set
                shutil.rmtree(stale, ignore_errors=True)
        for codec in codecs:  # resumable: a finished folder is only checked
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "walloc_plugins", "convert", str(root / split),
                            str(root / f"{split}-{codec}"), "-c", codec, "-j", str(args.jobs)], check=True)
            timings[f"convert_{split}_{codec}_s"] = time.perf_counter() - start
    return timings


def summarise(task: str, kind: inputs.Kind, runs: list[dict], prep_ms: float) -> dict:
    """One table row: the kind, its model's cost, accuracy over seeds, speed and memory."""
    accuracies = [r["accuracy"] for r in runs]
    return {"task": task, "input": kind.name, "source": kind.source, "codec": kind.codec,
            "values": kind.values, "params": runs[0]["params"], "mflops": runs[0]["mflops"],
            "accuracy": statistics.mean(accuracies),
            "accuracy_std": statistics.stdev(accuracies) if len(runs) > 1 else None,
            "accuracy_min": min(accuracies), "accuracy_max": max(accuracies), "seeds": len(runs),
            "train_samples_per_s": statistics.mean(r["train_samples_per_s"] for r in runs),
            "peak_rss_mb": max((r["peak_rss_mb"] or 0) for r in runs) or None,
            "prep_ms": prep_ms, "runs": runs}


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
    styles = {"signal": ("k", "*"), "packets": ("tab:gray", "D"), "resized": ("tab:red", "o"),
              "resized+float": ("tab:orange", "v"), "float": ("tab:blue", "s"), "int8": ("tab:green", "^")}
    for ax, task in zip(axes[0], tasks):
        for source, (colour, marker) in styles.items():
            chosen = sorted((r for r in rows if r["task"] == task and r["source"] == source),
                            key=lambda r: r["values"])
            if chosen:
                ax.errorbar([r["values"] for r in chosen], [r["accuracy"] for r in chosen],
                            yerr=[r["accuracy_std"] or 0 for r in chosen], color=colour, marker=marker,
                            capsize=3, label={"signal": "full resolution",
                                              "packets": "full resolution, wavelet packets",
                                              "resized": "resized",
                                              "resized+float": "resized, then the codec's analysis",
                                              "float": "WaLLoC float latents",
                                              "int8": "WaLLoC int8 latents (.wlc)"}[source])
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # minor labels collide
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
    parser.add_argument("--controls", action="store_true", help="also train the image controls "
                        "(one seed each): full-resolution wavelet packets, and resizes put through "
                        "the codec's analysis (see benchmarks/learning/inputs.py)")
    parser.add_argument("--epochs", type=int, help="override the task recipes' epochs")
    parser.add_argument("--train", type=int, help="override the training set sizes")
    parser.add_argument("--test", type=int, help="override the test set sizes")
    parser.add_argument("--shared", type=Path, default=SHARED,
                        help="the shared data folder with images/ and music/ (default: %(default)s)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="processes: training runs at a time "
                        "(one thread each), and workers of data making and walloc convert (default: 2)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the main process, "
                        "which reads the data and computes resizes and float latents (default: 2)")
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
    tasks = [prepare_task(task, args, configs[task]) for task in args.tasks]
    timings = {task.name: task.timings for task in tasks}
    train_start = time.perf_counter()
    rows = train_all(tasks, args)
    timings["train_s"] = time.perf_counter() - train_start
    timings["total_s"] = time.perf_counter() - start
    print_table(rows, COLUMNS)
    data_min = {t.name: sum(v for k, v in t.timings.items() if k.endswith("_s")) / 60 for t in tasks}
    print(f"\ntotal {timings['total_s'] / 60:.1f} min: making, converting and preparing data "
          + ", ".join(f"{name} {m:.1f}" for name, m in data_min.items())
          + f"; training {timings['train_s'] / 60:.1f}")
    env = {**env_info(args.threads), "command": " ".join(["python", *sys.argv]), "timings": timings,
           "sizes": {t: {k: getattr(args, k) or configs[t][k] for k in ("train", "test")} for t in args.tasks}}
    path = write_json(args.out, "compressed_learning", __doc__.strip().splitlines()[0], env, rows)
    table = path.with_suffix(".md")
    table.write_text(markdown_table(rows, COLUMNS))
    print(f"wrote {path}, {table} and {plot(rows, path.with_suffix('.png'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``walloc`` command line: encode, decode, convert, info, codecs, train, eval, demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import WallocError

log = logging.getLogger("walloc")

EPILOG = """\
examples:
  walloc demo                              encode and decode a bundled photo, print size and PSNR
  walloc encode photo.png                  -> photo.wlc with the default codec for RGB
  walloc encode song.wav -c stereo-20x-linear
  walloc decode photo.wlc out.png --reference photo.png   also print the PSNR
  walloc convert photos/ photos-wlc/       a folder (e.g. ImageFolder layout) to .wlc files
  walloc info photo.wlc                    the header, without decoding (no torch needed)
  walloc codecs                            codecs, entropy coders and plugins installed

Images: any format Pillow reads. Audio: WAV natively, other formats through ffmpeg
(found on PATH or in the imageio-ffmpeg wheel); audio at another rate is resampled to the
codec's rate by ffmpeg. Logs go to stderr; exit status 1 on any error.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="walloc: %(message)s", stream=sys.stderr
    )
    try:
        return int(args.run(args) or 0)
    except (WallocError, OSError) as exc:
        print(f"walloc: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="walloc",
        description="WaLLoC: wavelet learned lossy compression for images and audio (.wlc files).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="only print errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print errors")
    sub = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    enc = sub.add_parser("encode", parents=[common], help="compress an image or audio file to .wlc")
    enc.add_argument("input", type=Path, help="image (PNG, JPEG, ...) or audio (WAV, FLAC, ...)")
    enc.add_argument("output", type=Path, nargs="?", help="default: INPUT with the suffix .wlc")
    enc.add_argument("-c", "--codec", help="registered codec name (see `walloc codecs`)")
    enc.add_argument("--coder", default="webp", help="entropy coder (default: webp)")
    enc.add_argument("-f", "--force", action="store_true", help="overwrite OUTPUT")
    enc.set_defaults(run=_encode)

    dec = sub.add_parser("decode", parents=[common], help="decompress a .wlc file to an image or WAV")
    dec.add_argument("input", type=Path, help="a .wlc file")
    dec.add_argument("output", type=Path, nargs="?", help="default: INPUT with .png (image) or .wav (audio)")
    dec.add_argument("-r", "--reference", type=Path, help="original file: print PSNR against it")
    dec.add_argument("-f", "--force", action="store_true", help="overwrite OUTPUT")
    dec.set_defaults(run=_decode)

    conv = sub.add_parser(
        "convert",
        parents=[common],
        help="convert a folder of images or audio (e.g. ImageFolder layout) to .wlc files",
        description="Encode every image and audio file under SRC to DST/<same relative path>.wlc, "
        "in parallel. Images are converted to the codec's mode (RGB or L), audio is resampled to "
        "the codec's rate. Files already in DST are skipped, so an interrupted run resumes; "
        "nothing is overwritten without --overwrite. Exit status 1 if any file failed.",
    )
    conv.add_argument("src", type=Path, help="folder of images and/or audio, searched recursively")
    conv.add_argument("dst", type=Path, help="output folder (created)")
    conv.add_argument("-c", "--codec", action="append", default=[], metavar="NAME",
                      help="codec for the files of its modality; repeat for images and audio "
                      "(default: the core's defaults for RGB images and stereo audio)")
    conv.add_argument("--coder", default="webp", help="entropy coder (default: webp)")
    conv.add_argument("-j", "--jobs", type=int, help="worker processes (default: one per CPU)")
    conv.add_argument("-f", "--overwrite", action="store_true", help="re-encode files that exist in DST")
    conv.add_argument("--shards", action="store_true",
                      help="write WebDataset tar shards (KEY.wlc + KEY.json with the label) and "
                      "DST/manifest.json instead of a tree of files; resumes after the last finished shard")
    conv.add_argument("--maxcount", type=int, default=10_000, metavar="N", help="samples per shard (default 10000)")
    conv.add_argument("--maxsize", type=_byte_size, default=1 << 30, metavar="SIZE",
                      help="bytes per shard, e.g. 500M or 2G (default 1G)")
    conv.set_defaults(run=_convert)

    info = sub.add_parser("info", parents=[common], help="print a .wlc header (no decoding)")
    info.add_argument("input", type=Path, nargs="+")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(run=_info)

    codecs = sub.add_parser("codecs", parents=[common], help="list codecs, entropy coders and plugins")
    codecs.add_argument("--json", action="store_true", help="machine-readable output")
    codecs.set_defaults(run=_codecs)

    tr = sub.add_parser("train", parents=[common], help="train a codec on a folder of images or audio")
    tr.add_argument("config", help="a preset (rgb-16x, rgb-4x, gray-16x, stereo-20x, stereo-5x) or a config JSON file")
    tr.add_argument("data", type=Path, help="folder of images (any Pillow format) or audio (WAV, FLAC, ...)")
    tr.add_argument("--out", type=Path, required=True, help="folder for checkpoints, log.jsonl and NAME.pt/.json")
    tr.add_argument("--name", help="codec name written into files (default: the preset or file name)")
    tr.add_argument("--init", help="start from a codec of the same shape, e.g. rgb-16x-linear")
    defaults = _train_defaults()
    for flag, kind, text in (
        ("steps", int, "optimiser steps"),
        ("batch", int, "crops per step"),
        ("crop", int, "image crop in pixels; audio crop in latent frames (2^levels samples each)"),
        ("pool", int, "random crops whose wavelet bands are computed once before training"),
        ("lr", float, "peak learning rate of the synthesis network (linear parts: 1/100 of it)"),
        ("warmup", int, "steps of linear warm-up before the cosine decay"),
        ("seed", int, "seed of the crops, the draws and the bottleneck noise"),
    ):
        tr.add_argument(f"--{flag}", type=kind, help=f"{text} (default {defaults[flag]})")
    tr.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt")
    tr.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    tr.add_argument("--amp", action=argparse.BooleanOptionalAction,
                    help="bfloat16 autocast (default: on for CUDA and for CPUs with AMX or AVX-512 BF16)")
    tr.set_defaults(run=_train)

    ev = sub.add_parser("eval", parents=[common], help="measure codecs against JPEG/WebP/AVIF/Lanczos or Opus/MP3/resampling")
    ev.add_argument("codecs", nargs="+", help="codec names or .pt paths, all of one modality")
    ev.add_argument("--data", type=Path, required=True, help="folder of images or audio, e.g. ../shared/data/images/dev")
    ev.add_argument("--out", type=Path, default=Path("eval"), help="folder for eval.json and rd.png")
    ev.add_argument("--no-avif", action="store_true", help="skip AVIF (the slowest baseline)")
    ev.set_defaults(run=_eval)

    demo = sub.add_parser("demo", parents=[common], help="round-trip a bundled photo and compare with resizing")
    demo.add_argument("-c", "--codec", help="codec name (default: the RGB default)")
    demo.set_defaults(run=_demo)
    return parser


def _encode(args: argparse.Namespace) -> int:
    from . import api
    from .files import atomic_write

    output = args.output or args.input.with_suffix(".wlc")
    start = time.perf_counter()
    array, options = _read_signal(args.input, args.codec)
    with atomic_write(output, overwrite=args.force) as fo:
        api.compress_to_file(fo, array, args.codec, coder=args.coder, progress=not args.quiet, **options)
    seconds = time.perf_counter() - start
    size = output.stat().st_size
    print(f"{output}: {size} bytes, {_rate(array, size, options)} ({seconds:.2f} s)")
    return 0


def _decode(args: argparse.Namespace) -> int:
    from . import api
    from .files import atomic_write
    from .wav import write_wav
    from .wlcinfo import read_header

    header = read_header(args.input)
    output = args.output or args.input.with_suffix(".png" if header.modality == "image" else ".wav")
    start = time.perf_counter()
    with open(args.input, "rb") as source:
        array = api.decompress_from_file(source, progress=not args.quiet)
    with atomic_write(output, overwrite=args.force) as fo:
        if header.modality == "image":
            from PIL import Image

            Image.fromarray(array).save(fo, format=Image.registered_extensions().get(output.suffix.lower(), "PNG"))
        else:
            write_wav(fo, array, header.sample_rate or 0)
    line = f"{output}: decoded in {time.perf_counter() - start:.2f} s"
    if args.reference:
        reference, _ = _read_signal(args.reference, header.codec, header.sample_rate)
        line += f", PSNR {_psnr(reference, array, header.modality):.2f} dB against {args.reference}"
    print(line)
    return 0


def _convert(args: argparse.Namespace) -> int:
    from .convert import convert_folder

    if args.jobs is not None and args.jobs < 1:
        raise WallocError(f"--jobs must be at least 1, got {args.jobs}")
    start = time.perf_counter()
    if args.shards:
        from .shards import write_shards

        shards = write_shards(args.src, args.dst, args.codec, coder=args.coder, maxcount=args.maxcount,
                              maxsize=args.maxsize, overwrite=args.overwrite, workers=args.jobs,
                              progress=not args.quiet)
        failed = shards.failed
        done = (f"{shards.samples} samples in {shards.shards} new shards, {shards.kept_shards} shards "
                "already there")
    else:
        report = convert_folder(args.src, args.dst, args.codec, coder=args.coder, overwrite=args.overwrite,
                                workers=args.jobs, progress=not args.quiet)
        failed = report.failed
        done = f"{report.converted} converted, {report.skipped} already there"
    for key, error in failed:
        log.error("%s: %s", key, error)
    print(f"{args.dst}: {done}, {len(failed)} failed ({time.perf_counter() - start:.1f} s)")
    return 1 if failed else 0


def _byte_size(text: str) -> int:
    """``500M``, ``2G``, ``65536`` ... as bytes (binary units), for argparse."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    number, unit = (text[:-1], units[text[-1].upper()]) if text[-1:].upper() in units else (text, 1)
    try:
        size = int(float(number) * unit)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (use e.g. 65536, 500M or 2G)") from None
    if size < 1:
        raise argparse.ArgumentTypeError(f"a size must be positive, not {text!r}")
    return size


def _info(args: argparse.Namespace) -> int:
    from .wlcinfo import read_info

    for path in args.input:
        header, metadata = read_info(path)
        fields = {"file": str(path), "bytes": path.stat().st_size, "version": header.version, "modality": header.modality}
        fields.update(header.to_json())
        fields.update({k: len(v) if isinstance(v, bytes) else v for k, v in metadata.items()})
        if args.json:
            print(json.dumps(fields))
        else:
            print("\n".join(f"{k:>16}: {v}" for k, v in fields.items()) + "\n")
    return 0


def _codecs(args: argparse.Namespace) -> int:
    from .registry import codec_entries, entropy_coders, plugins

    codecs = [
        {
            "name": e.name,
            "modality": e.config.modality,
            "channels": e.config.channels,
            "reduction": round(e.config.dimensionality_reduction, 2),
            "plugin": e.plugin,
            "description": e.description,
        }
        for e in codec_entries().values()
    ]
    coders = [{"name": c.name, "description": c.description, "class": type(c).__module__} for c in entropy_coders().values()]
    found = [{"plugin": p.name, "source": p.source, "error": p.error} for p in plugins()]
    if args.json:
        print(json.dumps({"codecs": codecs, "coders": coders, "plugins": found}, indent=2))
        return 0
    print("codecs:")
    for c in codecs:
        print(f"  {c['name']:<22} {c['modality']:<5} {c['channels']} ch  {c['reduction']:>6}x  {c['description']}  [{c['plugin']}]")
    print("entropy coders:")
    for c in coders:
        print(f"  {c['name']:<22} {c['description']}  [{c['class']}]")
    print("plugins:")
    for p in found:
        print(f"  {p['plugin']:<22} {p['source']}" + (f"  FAILED: {p['error']}" if p["error"] else ""))
    return 0


def _train(args: argparse.Namespace) -> int:
    import torch

    from .config import CodecConfig, TrainOptions
    from .train import PRESETS, bf16_is_fast, train

    if args.config in PRESETS:
        config, name = PRESETS[args.config], args.name or args.config
    else:
        card = json.loads(Path(args.config).read_text(encoding="utf-8"))
        config, name = CodecConfig.from_dict(card.get("config", card)), args.name or Path(args.config).stem
    device = args.device if args.device != "auto" else "cuda" if torch.cuda.is_available() else "cpu"
    given = {key: getattr(args, key) for key in _train_defaults() if getattr(args, key) is not None}
    amp = bf16_is_fast(device) if args.amp is None else args.amp
    options = TrainOptions(**given, amp=amp)
    weights = train(config, args.data, args.out, options, name=name, init=args.init, resume=args.resume, device=device)
    print(f"{weights}: load it with walloc_plugins.load_codec({str(weights)!r})")
    return 0


def _train_defaults() -> dict:
    from .config import TrainOptions

    return {key: getattr(TrainOptions, key) for key in ("steps", "batch", "crop", "pool", "lr", "warmup", "seed")}


def _eval(args: argparse.Namespace) -> int:
    from .evaluate import SWEEPS, evaluate_audio, evaluate_images, plot_rate_distortion, write_json
    from .registry import load_codec

    args.out.mkdir(parents=True, exist_ok=True)
    if load_codec(args.codecs[0]).config.modality == "audio":
        result = evaluate_audio(args.codecs, args.data)
        columns = [("bits_per_sample", "bits/sample", ".3f"), ("kbit_s", "kbit/s", ".1f"), ("snr", "SNR", ".2f"),
                   ("psnr", "PSNR", ".2f"), ("opus", "Opus", ".2f"),
                   ("mp3", "MP3", ".2f"), ("realtime_encode", "enc x rt", ".0f"), ("realtime_decode", "dec x rt", ".0f")]
        print(f"{len(result['per_clip'])} clips from {args.data}; baselines at the codec's bitrate, SNR in dB")
    else:
        baselines = tuple(f for f in SWEEPS if not (args.no_avif and f == "AVIF"))
        result = evaluate_images(args.codecs, args.data, baselines)
        columns = [("bpp", "bpp", ".3f"), ("compression_ratio", "ratio", ".1f"), ("psnr", "PSNR", ".2f"),
                   ("ms_ssim", "MS-SSIM", ".4f"), *((f.lower(), f, ".2f") for f in baselines),
                   ("encode_mpix_s", "enc MPix/s", ".1f"), ("decode_mpix_s", "dec MPix/s", ".1f")]
        print(f"{len(result['per_image'])} images from {args.data}; baselines at the codec's bpp (whole file), PSNR in dB")
    print(f"{'codec':<22}" + "".join(f"{header:>12}" for _, header, _ in columns) + f"{'resize':>12}")
    for name in args.codecs:
        mean = result["mean"][name]
        resize = next(v for k, v in mean.items() if k.startswith(("lanczos", "resample")))
        cells = [format(mean[key]["snr" if "snr" in mean[key] else "psnr"] if isinstance(mean[key], dict) else mean[key], spec)
                 for key, _, spec in columns]
        print(f"{name:<22}" + "".join(f"{c:>12}" for c in cells) + f"{resize['snr' if 'snr' in resize else 'psnr']:>12.2f}")
    write_json(result, args.out / "eval.json")
    if result.get("modality") != "audio":
        try:
            print(f"plot: {plot_rate_distortion(result, args.out / 'rd.png')}")
        except WallocError as exc:
            log.warning("no plot: %s", exc)
    print(f"json: {args.out / 'eval.json'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import numpy as np
    import skimage.data
    from PIL import Image

    from . import api
    from .wlcinfo import read_header

    image = skimage.data.coffee()  # 600x400 RGB, public domain, shipped with scikit-image
    start = time.perf_counter()
    data = api.compress(image, args.codec)
    decoded = api.decompress(data)
    seconds = time.perf_counter() - start
    header_codec = api.codec_for(read_header(data))
    reduction = header_codec.config.dimensionality_reduction
    factor = int(round(reduction**0.5))
    small = Image.fromarray(image).resize((image.shape[1] // factor, image.shape[0] // factor), Image.LANCZOS)
    resized = np.asarray(small.resize(image.shape[1::-1], Image.LANCZOS))
    print(f"coffee.png {image.shape[1]}x{image.shape[0]} RGB, codec {header_codec.name} ({reduction:g}x fewer values)")
    print(f"  .wlc size  {len(data)} bytes, {len(data) * 8 / (image.shape[0] * image.shape[1]):.3f} bpp, "
          f"compression ratio {image.nbytes / len(data):.1f}:1")
    print(f"  PSNR       {_psnr(image, decoded, 'image'):.2f} dB  (Lanczos resize {factor}x per side: "
          f"{_psnr(image, resized, 'image'):.2f} dB)")
    print(f"  time       {seconds * 1000:.0f} ms encode + decode (first call loads the model)")
    return 0


def _read_signal(path: Path, codec: str | None, rate: int | None = None) -> tuple[Any, dict]:
    """An image array, or audio with the options ``compress`` needs."""
    from .audiofile import AUDIO_SUFFIXES, read_audio

    if path.suffix.lower() in AUDIO_SUFFIXES:
        if rate is None:
            from .api import DEFAULT_CODECS
            from .registry import get_entry

            rate = get_entry(codec or DEFAULT_CODECS[("audio", 2)]).config.sample_rate
        audio, rate = read_audio(path, rate)
        return audio, {"sample_rate": rate}
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        if image.mode not in ("L", "LA", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        return np.asarray(image), {}


def _psnr(reference: Any, decoded: Any, modality: str) -> float:
    import numpy as np

    a, b = np.asarray(reference, np.float64), np.asarray(decoded, np.float64)
    if a.shape != b.shape:
        raise WallocError(f"reference shape {a.shape} differs from the decoded {b.shape}")
    peak = 255.0 if modality == "image" else 1.0
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(peak**2 / mse)


def _rate(array: Any, size: int, options: dict) -> str:
    if "sample_rate" in options:
        samples = array.size
        return f"{size * 8 / samples:.3f} bits/sample, {size * 8 * options['sample_rate'] / len(array) / 1000:.1f} kbit/s"
    pixels = array.shape[0] * array.shape[1]
    return f"{size * 8 / pixels:.3f} bpp, ratio {array.nbytes / size:.1f}:1"

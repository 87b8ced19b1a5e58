"""Write the golden .wlc test vectors of the current format version (write once, read forever).

    python tests/vectors/make_vectors.py            # writes only the files that are missing
    WALLOC_REGENERATE=1 python tests/vectors/make_vectors.py   # rewrites them (new version only)

Each vector NAME has NAME.wlc (the file), NAME.header.json (its header), NAME.latent.npz (the
int8 latent of every data chunk, entropy-decoded) and NAME.decoded.npz (the reconstruction:
uint8 pixels, or int16 PCM for audio). Inputs are crops of ../shared/data (see README.md).
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import walloc_plugins as wp
from walloc_plugins import container
from walloc_plugins.api import _audio_latents, channel_groups
from walloc_plugins.audiofile import read_audio
from walloc_plugins.registry import get_entry

DATA = ROOT.parent / "shared" / "data"
VERSION_DIR = HERE / f"v{container.FORMAT_VERSION}"


def inputs() -> dict[str, tuple[np.ndarray, dict]]:
    photo = np.asarray(Image.open(DATA / "images" / "dev" / "lxqt-butterfly.png").convert("RGB"))
    crop = np.ascontiguousarray(photo[200:240, 320:376])  # 40 x 56: not multiples of 8 on purpose
    alpha = np.tile(np.linspace(0, 255, 24).astype(np.uint8), (21, 1))
    music, rate = read_audio(DATA / "audio" / "dev" / "music-tracker.flac")
    return {
        "rgb-16x-linear-webp": (crop, {"codec": "rgb-16x-linear"}),
        "rgb-4x-linear-zlib": (crop[:21, :30], {"codec": "rgb-4x-linear", "coder": "zlib"}),
        "gray-16x-linear-meta": (
            np.asarray(Image.fromarray(crop).convert("L")),
            {"codec": "gray-16x-linear", "metadata": {"exif": b"Exif\x00\x00II*\x00", "xmp": b"<x:xmpmeta/>"}},
        ),
        "rgba-16x-linear": (np.dstack([crop[:21, :24], alpha]), {"codec": "rgb-16x-linear"}),
        "stereo-20x-linear": (
            music[: (1 << 17) + 3001],  # two frames, the second one short
            {"codec": "stereo-20x-linear", "sample_rate": rate, "metadata": {"tags": {"title": "tracker"}}},
        ),
    }


def streamed() -> dict[str, bytes]:
    """Vectors written by the ffmpeg door's streaming encoder: what ``wp.compress`` does not make."""
    from ffmpeg_filter.stream import encode_stream
    from walloc_plugins.wav import write_wav

    surround, rate = read_audio(DATA / "audio" / "dev" / "music-surround-5.1-48k.flac")
    wav = io.BytesIO()
    write_wav(wav, surround[:143000, :3], rate)  # 2.98 s: two frames at 44.1 kHz, overlapping
    wav.seek(0)
    out = io.BytesIO()
    encode_stream(wav, out, "stereo-20x-linear")
    return {"stereo-20x-linear-3ch-48k": out.getvalue()}


def latents(data: bytes) -> dict[str, np.ndarray]:
    """The int8 latent of every data chunk, ``chunk0``, ``chunk1``, ...: an image's one, or
    each audio frame's (its channel groups stacked), entropy-decoded."""
    reader = container.WlcReader(io.BytesIO(data))
    header, coder = reader.header, wp.get_coder(reader.header.coder)
    if header.frame_length is None:
        rows, cols = header.latent_grid
        shape = (header.latent_channels, rows, cols)
        chunks = (coder.decode(payload, shape) for kind, payload in reader.data_chunks() if kind == container.LATENT)
    else:
        config = get_entry(header.codec).config
        groups = len(channel_groups(header.channels, config.channels))
        chunks = (q for _, _, q in _audio_latents(coder, header, config, reader.data_chunks(), groups))
    return {f"chunk{index}": q for index, q in enumerate(chunks)}


def main() -> int:
    VERSION_DIR.mkdir(exist_ok=True)
    regenerate = os.environ.get("WALLOC_REGENERATE") == "1"
    made = {name: lambda array=array, options=options: wp.compress(array, **options)
            for name, (array, options) in inputs().items()}
    made.update({name: lambda data=data: data for name, data in streamed().items()})
    for name, make in made.items():
        target = VERSION_DIR / f"{name}.wlc"
        if target.exists() and not regenerate:
            continue
        data = make()
        decoded = wp.decompress(data)
        if decoded.dtype != np.uint8:
            decoded = np.round(decoded * 32767).astype(np.int16)
        target.write_bytes(data)
        header = wp.read_header(data).to_json()
        (VERSION_DIR / f"{name}.header.json").write_text(json.dumps(header, indent=4, sort_keys=True) + "\n")
        np.savez_compressed(VERSION_DIR / f"{name}.latent.npz", **latents(data))
        np.savez_compressed(VERSION_DIR / f"{name}.decoded.npz", decoded=decoded)
        print(f"wrote {target.relative_to(ROOT)} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

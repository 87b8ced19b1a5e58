"""BatchEncoder / BatchDecoder on their own and inside real engines (Ray Data, HF datasets, Dask).

Each engine's output must decode to the same latents as a plain ``compress()`` of the same
file, bad files must become error records, and mixed image sizes must work.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import DEV_IMAGES, SHARED
from PIL import Image

import walloc_plugins as wp
from walloc_plugins.batch import BatchDecoder, BatchEncoder, count_errors

TRAIN_IMAGES = SHARED / "images" / "train"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    """Real photos of two sizes (512x512 crops, 768x512 dev photos) and one garbage file.

    The first file is a 512x512 crop of a dev photo, so mixed sizes do not depend on
    ``images/train`` having been fetched; train crops join when they are there.
    """
    folder = tmp_path_factory.mktemp("bad")
    dev = sorted(DEV_IMAGES.glob("*.png"))[:2]
    crop = folder / "dev-crop.png"
    with Image.open(dev[-1]) as image:
        image.crop((0, 0, 512, 512)).save(crop)
    train = sorted(TRAIN_IMAGES.glob("*.png"))[:2] if TRAIN_IMAGES.is_dir() else []
    garbage = folder / "broken.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return [crop, *train, *dev, garbage]


def expected_latent(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return wp.read_latent(wp.compress(np.asarray(image.convert("RGB")))).q.numpy()


def check_rows(rows: list[dict], files: list[Path], errors: int = 1) -> None:
    """Every good file's bytes hold compress()'s latent; the garbage file is an error record."""
    by_path = {str(row["path"]): row for row in rows}
    assert sorted(by_path) == sorted(str(f) for f in files)
    assert count_errors(rows) == errors
    for path in files:
        row = by_path[str(path)]
        if path.name == "broken.png":
            assert "broken.png" in row["error"] and row["wlc"] == b""
            continue
        assert row["error"] == "" and row["codec"] == "rgb-16x-linear"
        assert np.array_equal(wp.read_latent(row["wlc"]).q.numpy(), expected_latent(path))


# -- on its own ------------------------------------------------------------------------------
def test_columns_rows_and_dataframes_give_the_same_records(files):
    encoder = BatchEncoder(outputs=("wlc", "int8", "latent"))
    columns = encoder({"path": [str(f) for f in files]})
    rows = encoder([{"path": str(f)} for f in files])
    bare = encoder([str(f) for f in files])
    for i, path in enumerate(files):
        assert (columns["wlc"][i] == b"") == (path.name == "broken.png")
        assert rows[i]["wlc"] == columns["wlc"][i] == bare[i]["wlc"]
    check_rows(rows, files)
    good = [i for i, f in enumerate(files) if f.name != "broken.png"]
    shapes = {tuple(columns["int8"][i].shape) for i in good}
    assert len(shapes) == 2  # mixed sizes in one batch
    for i in good:
        stored = wp.read_latent(columns["wlc"][i]).q.numpy()
        assert np.array_equal(columns["int8"][i], stored)
        latent = columns["latent"][i]
        assert latent.dtype == np.float32 and latent.shape == stored.shape
        assert np.array_equal(np.round(latent), stored)  # the companded latent, before rounding
    assert encoder.errors == 3  # one per call above


def test_dataframe_in_dataframe_out(files):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"path": [str(f) for f in files], "label": range(len(files))})
    out = BatchEncoder()(frame)
    assert isinstance(out, pd.DataFrame) and list(out["label"]) == list(range(len(files)))
    check_rows(out.to_dict("records"), files)


def test_arrays_pil_images_and_encoded_bytes(files):
    path = files[0]
    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"))
        pil = image.convert("RGB")
    batch = {"image": [array, pil, path.read_bytes(), {"bytes": path.read_bytes(), "path": None}]}
    out = BatchEncoder()(batch)
    assert out["error"] == [""] * 4
    assert len(set(out["wlc"])) == 1  # the same image four ways, the same bytes


def test_audio_clips_with_a_sample_rate_column(music):
    audio, rate = music
    clips = [audio[:rate], audio[rate : 3 * rate], audio[:100, :1]]
    out = BatchEncoder("stereo-20x-linear", column="audio", outputs=("wlc", "int8"))(
        {"audio": clips, "sample_rate": [rate, rate, 48000]}
    )
    assert out["error"][:2] == ["", ""] and "44100 Hz" in out["error"][2]
    for clip, data in zip(clips[:2], out["wlc"][:2]):
        plain = wp.compress(clip, "stereo-20x-linear", sample_rate=rate)
        assert np.array_equal(wp.read_latent(data).q.numpy(), wp.read_latent(plain).q.numpy())
    decoded = BatchDecoder()({"wlc": out["wlc"][:2]})
    assert [a.shape for a in decoded["audio"]] == [c.shape for c in clips[:2]]
    assert decoded["sample_rate"] == [rate, rate]


def test_decoder_round_trip_and_reduced_size(files):
    encoded = BatchEncoder()({"path": [str(f) for f in files]})
    decoded = BatchDecoder()({"wlc": encoded["wlc"]})
    assert decoded["error"][-1]  # the garbage file's empty bytes
    for i, path in enumerate(files[:-1]):
        assert np.array_equal(decoded["image"][i], wp.decompress(encoded["wlc"][i]))
    small = BatchDecoder(reduce=3)({"wlc": encoded["wlc"][:1]})
    assert small["image"][0].shape[:2] == (64, 64)


def test_picklable_and_checked_early():
    encoder = BatchEncoder("rgb-4x-linear", outputs="int8", threads=1)
    copy = pickle.loads(pickle.dumps(encoder))
    assert repr(copy) == "BatchEncoder(codec='rgb-4x-linear', outputs=('int8',), coder='webp')"
    with pytest.raises(wp.UnknownCodecError):
        BatchEncoder("no-such-codec")
    with pytest.raises(wp.InputError, match="outputs"):
        BatchEncoder(outputs=("pixels",))
    with pytest.raises(wp.InputError, match="column"):
        BatchEncoder()({"text": ["a"]})


# -- engines ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_ray_data_map_batches_and_parquet(files, tmp_path):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ds = ray.data.read_binary_files([str(f) for f in files], include_paths=True)
        out = ds.map_batches(
            BatchEncoder,
            fn_constructor_kwargs={"outputs": ("wlc", "int8"), "threads": 1},
            compute=ray.data.ActorPoolStrategy(size=2),
            num_cpus=0.5,  # two encoders beside Ray's read tasks on a 2-CPU cluster
            batch_size=2,
            batch_format="numpy",
        )
        out.drop_columns(["bytes"]).write_parquet(str(tmp_path / "parquet"))
        rows = ray.data.read_parquet(str(tmp_path / "parquet")).take_all()
        # Ray's image reader hands over decoded pixels (it would fail on the broken file itself).
        good = [str(f) for f in files if f.name != "broken.png"]
        pixels = ray.data.read_images(good, mode="RGB", include_paths=True).map_batches(
            BatchEncoder, fn_constructor_kwargs={"threads": 1}, compute=ray.data.ActorPoolStrategy(size=1),
            num_cpus=0.5, batch_size=2, batch_format="numpy")
        pixels.drop_columns(["image"]).write_parquet(str(tmp_path / "from-pixels"))
        from_pixels = ray.data.read_parquet(str(tmp_path / "from-pixels")).take_all()
    finally:
        ray.shutdown()
    check_rows(rows, files)
    check_rows(from_pixels, [f for f in files if f.name != "broken.png"], errors=0)
    good = next(row for row in rows if not row["error"])
    assert np.array_equal(np.asarray(good["int8"]), wp.read_latent(good["wlc"]).q.numpy())


@pytest.mark.slow
def test_hugging_face_datasets_map_and_image_column(files):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"path": [str(f) for f in files]})
    out = ds.map(BatchEncoder(threads=1), batched=True, batch_size=2, num_proc=2)
    check_rows(list(out), files)
    # Back: an Image() column holding .wlc bytes decodes through the Pillow door.
    good = [row for row in out if not row["error"]]
    images = datasets.Dataset.from_dict(
        {"image": [{"bytes": row["wlc"], "path": None} for row in good]},
        features=datasets.Features({"image": datasets.Image()}),
    )
    first = images[0]["image"]
    assert first.format == "WLC"
    assert np.array_equal(np.asarray(first), wp.decompress(good[0]["wlc"]))


@pytest.mark.slow
def test_dask_bag_map_partitions_in_processes(files):
    bag = pytest.importorskip("dask.bag")
    rows = (
        bag.from_sequence([str(f) for f in files], npartitions=2)
        .map_partitions(BatchEncoder(column="path", threads=1))
        .compute(scheduler="processes", num_workers=2)
    )
    check_rows(rows, files)

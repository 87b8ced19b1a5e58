"""WebDataset shards from ``walloc convert --shards``: contents, limits, reproducibility, resume."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DEV_IMAGES
from PIL import Image

import walloc_plugins as wp
from walloc_plugins.cli import main
from walloc_plugins.shards import MANIFEST, sample_name, write_shards


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    """ImageFolder layout: two classes of real photos (one file name with dots) and a broken file."""
    root = tmp_path_factory.mktemp("folder")
    photos = sorted(DEV_IMAGES.glob("*.png"))[:7]
    for i, photo in enumerate(photos):
        folder = root / ("birds" if i % 2 else "scenes")
        folder.mkdir(exist_ok=True)
        name = "v1.2.photo.png" if i == 0 else photo.name
        with Image.open(photo) as image:  # smaller copies keep the test quick
            image.crop((0, 0, 200, 136)).save(folder / name)
    (root / "scenes" / "broken.png").write_bytes(b"not an image")
    return root


def test_shards_hold_every_good_file_with_its_label(image_folder, tmp_path):
    report = write_shards(image_folder, tmp_path, maxcount=3, workers=2)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["complete"] and manifest["classes"] == ["birds", "scenes"]
    assert [s["samples"] for s in manifest["shards"]] == [3, 3, 1] and manifest["samples"] == 7
    assert report.shards == 3 and report.samples == 7
    assert [f["key"] for f in manifest["failed"]] == ["scenes/broken"] == [k for k, _ in report.failed]
    seen = []
    for entry in manifest["shards"]:
        data = (tmp_path / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]
        assert data[257:263] == b"ustar\x00"  # POSIX tar headers
        with tarfile.open(tmp_path / entry["name"]) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        for name in sorted({n.rsplit(".", 1)[0] for n in members}):
            meta = json.loads(members[f"{name}.json"])
            source = image_folder / meta["source"]
            assert name == sample_name(meta["key"]) and meta["class"] == source.parent.name
            assert meta["label"] == manifest["classes"].index(meta["class"])
            with Image.open(source) as image:
                expected = wp.compress(np.asarray(image.convert("RGB")))
            assert np.array_equal(wp.read_latent(members[f"{name}.wlc"]).q, wp.read_latent(expected).q)
            assert meta["size"] == [136, 200] and meta["codec"] == "rgb-16x-linear"
            seen.append(meta["key"])
    assert seen == sorted(seen) and "scenes/v1.2.photo" in seen  # plan order; dots kept in the key


def test_maxsize_splits_and_output_is_reproducible(image_folder, tmp_path):
    write_shards(image_folder, tmp_path / "a", maxsize=12_000, workers=2)
    write_shards(image_folder, tmp_path / "b", maxsize=12_000, workers=1)
    shards = sorted((tmp_path / "a").glob("*.tar"))
    assert len(shards) > 2
    for shard in shards:
        again = tmp_path / "b" / shard.name
        assert shard.read_bytes() == again.read_bytes()  # any worker count, same bytes
        if len(tarfile.open(shard).getnames()) > 2:  # several samples: within the limit
            assert shard.stat().st_size <= 12_000 + 10_240  # tar's end-of-archive padding


def test_an_interrupted_run_resumes_after_its_last_finished_shard(image_folder, tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    write_shards(image_folder, whole, maxcount=2, workers=2)
    shutil.copytree(whole, broken)
    manifest = json.loads((broken / MANIFEST).read_text())
    last = manifest["shards"].pop()  # as if killed before the last shard was finished
    (broken / last["name"]).unlink()
    manifest.update(complete=False, next=manifest["next"] - 1, failed=[],
                    samples=manifest["samples"] - last["samples"])
    (broken / MANIFEST).write_text(json.dumps(manifest))
    report = write_shards(image_folder, broken, maxcount=2, workers=2)
    assert report.kept_shards == len(manifest["shards"]) and report.shards == 1
    for shard in whole.glob("*.tar"):
        assert (broken / shard.name).read_bytes() == shard.read_bytes()
    with pytest.raises(wp.InputError, match="--overwrite"):
        write_shards(image_folder, broken, maxcount=3)


def test_webdataset_reads_the_shards(image_folder, tmp_path):
    wds = pytest.importorskip("webdataset")
    write_shards(image_folder, tmp_path, maxcount=4)
    urls = [str(p) for p in sorted(tmp_path.glob("*.tar"))]
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    assert [s["__key__"] for s in samples] == [sample_name(json.loads(s["json"])["key"]) for s in samples]
    assert len(samples) == 7
    first = samples[0]
    assert wp.read_header(first["wlc"]).codec == "rgb-16x-linear"


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_split_the_shards(image_folder, tmp_path, context):
    from torch.utils.data import DataLoader

    from torchvision_ext import WlcShards

    write_shards(image_folder, tmp_path, maxcount=2)
    dataset = WlcShards(tmp_path, shuffle_shards=True)
    loader = DataLoader(dataset, batch_size=None, num_workers=2, multiprocessing_context=context)
    pairs = list(loader)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert len(pairs) == manifest["samples"] == 7  # each sample once across the workers
    labels = sorted(label for _, label in pairs)
    assert labels == sorted(0 if i % 2 else 1 for i in range(7))  # birds 0, scenes 1
    serial = sorted((tuple(q.shape), q.sum().item(), label) for q, label in WlcShards(tmp_path))
    assert sorted((tuple(q.shape), q.sum().item(), label) for q, label in pairs) == serial


def test_webdataset_decoder_hook_gives_latents_and_images(image_folder, tmp_path):
    wds = pytest.importorskip("webdataset")
    from torchvision_ext import WlcShards, wds_decoder

    write_shards(image_folder, tmp_path, maxcount=4)
    urls = [str(p) for p in sorted(tmp_path.glob("*.tar"))]
    latents = list(wds.WebDataset(urls, shardshuffle=False).decode(wds_decoder("latent")))
    ours = list(WlcShards(tmp_path))
    assert len(latents) == len(ours) == 7
    for sample, (q, label) in zip(latents, ours):
        assert sample["wlc"].dtype == torch.int8 and torch.equal(sample["wlc"], q)
        assert sample["json"]["label"] == label  # webdataset's own JSON decoding
    image = next(iter(wds.WebDataset(urls, shardshuffle=False).decode(wds_decoder("image"))))["wlc"]
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, 136, 200)


def test_cli_writes_shards_and_reports_failures(image_folder, tmp_path, capsys, caplog):
    assert main(["convert", str(image_folder), str(tmp_path), "--shards", "--maxcount", "5", "-q"]) == 1
    assert "7 samples in 2 new shards" in capsys.readouterr().out and "scenes/broken" in caplog.text
    with pytest.raises(SystemExit) as exit_:
        main(["convert", str(image_folder), str(tmp_path), "--shards", "--maxsize", "nonsense"])
    assert exit_.value.code == 2 and "not a size: 'nonsense'" in capsys.readouterr().err

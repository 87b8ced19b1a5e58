"""Train an image classifier on WaLLoC latents, straight from a folder of .wlc files.

The recipe: encode the images once, then train on the int8 latents the files store. Reading a
latent is entropy decoding only (no decoder runs), and a 16x latent of a 256 x 256 image is
12 x 32 x 32: as many values as a 64 x 64 resize, but it keeps the detail that resizing drops.

    walloc convert photos/train latents/train -c rgb-16x-linear    # ImageFolder layout
    walloc convert photos/test latents/test -c rgb-16x-linear
    python examples/train_on_latents.py latents/train latents/test --epochs 10

The latents of one data set must have one grid size (e.g. images of one size, or --crop).
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader

from torchvision_ext import LatentRandomCrop, WlcFolder


def latent_stats(dataset: WlcFolder, count: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of the first ``count`` latents: latents span about +-127 and
    their channels differ in scale, so normalise them like pixels."""
    latents = torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))]).float()
    dims = [0, *range(2, latents.ndim)]
    return latents.mean(dims)[:, None, None], latents.std(dims)[:, None, None]


def classifier(channels: int, classes: int, width: int = 32) -> nn.Module:
    """A 1x1 convolution mixes the latent channels (the stem); a small CNN does the rest."""

    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.GELU()]

    return nn.Sequential(
        nn.Conv2d(channels, width, 1), nn.BatchNorm2d(width), nn.GELU(),
        *block(width, 2 * width, 2), *block(2 * width, 2 * width, 1),
        *block(2 * width, 4 * width, 2), *block(4 * width, 4 * width, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, classes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("train", help="folder of .wlc files, one sub-folder per class")
    parser.add_argument("test", help="the same layout and classes, for testing")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--crop", type=int, default=0, help="random crops of this many latent "
                        "positions per side for training (0: none)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    args = parser.parse_args()

    train_set = WlcFolder(args.train, transform=LatentRandomCrop(args.crop) if args.crop else None)
    test_set = WlcFolder(args.test)
    if test_set.classes != train_set.classes:
        parser.error("the train and test folders must have the same class folders")
    mean, std = latent_stats(WlcFolder(args.train))
    model = classifier(len(mean), len(train_set.classes))
    train = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=args.workers,
                       persistent_workers=args.workers > 0)
    test = DataLoader(test_set, batch_size=256, num_workers=args.workers)
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.05)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 2e-3, total_steps=args.epochs * len(train))

    for epoch in range(args.epochs):
        model.train()
        for latents, labels in train:
            loss = nn.functional.cross_entropy(model((latents.float() - mean) / std), labels)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        model.eval()
        with torch.no_grad():
            correct = sum((model((x.float() - mean) / std).argmax(1) == y).sum().item() for x, y in test)
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {100 * correct / len(test_set):.1f}%")


if __name__ == "__main__":
    main()

"""Task 1, small text in photos: one printed word, a few pixels high, on a crop of a real photo.

Each sample is drawn from its own generator seeded by ``(seed, index)``, so any sample can be made
alone, in any order or process, and is the same every time (for a given Pillow and FreeType).
Words come from ``words.PRINTED``, fonts from the Debian packages fonts-dejavu-core,
fonts-liberation2 and fonts-freefont-ttf (``setup_data.sh`` installs them).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .words import PRINTED

VERSION = 1  # of the drawing code: data sets made by another version are made again
FONT_ROOT = Path("/usr/share/fonts/truetype")
FONTS = tuple(
    [f"dejavu/DejaVu{face}.ttf" for face in "Sans Sans-Bold SansMono SansMono-Bold Serif Serif-Bold".split()]
    + [f"liberation2/Liberation{family}-{style}.ttf" for family in ("Sans", "Serif", "Mono")
       for style in ("Regular", "Bold", "Italic", "BoldItalic")]
    + [f"freefont/Free{face}.ttf" for face in (
        "Sans SansBold SansOblique SansBoldOblique Mono MonoBold MonoOblique MonoBoldOblique "
        "Serif SerifBold SerifItalic SerifBoldItalic").split()]
)


def missing_fonts(root: Path = FONT_ROOT) -> list[str]:
    """The fonts of ``FONTS`` not installed under ``root`` (empty when the task can run)."""
    return [name for name in FONTS if not (root / name).is_file()]


@dataclass(frozen=True)
class TextSample:
    """One generated image and how it was made.

    Attributes:
        image: uint8 ``[size, size, 3]``, the photo crop with the word drawn on it.
        label: index of the word in ``words.PRINTED``.
        background: the photo crop before the word was drawn.
        alpha: float32 ``[size, size]`` in [0, 1], the word's coverage of each pixel.
        font, font_size, angle, colour: how the word was drawn (``angle`` in degrees,
            counter-clockwise; ``colour`` RGB).
    """

    image: np.ndarray
    label: int
    background: np.ndarray
    alpha: np.ndarray
    font: str
    font_size: float
    angle: float
    colour: tuple[int, int, int]

    @property
    def word(self) -> str:
        return PRINTED[self.label]


@functools.cache
def _font(name: str, size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_ROOT / name), size)


@functools.cache
def x_height_per_size(name: str) -> float:
    """The height of a lowercase ``x`` over the font size (about 0.5 for most text faces)."""
    _, top, _, bottom = _font(name, 200).getbbox("x")
    return (bottom - top) / 200


def word_mask(word: str, font: str, font_size: float, angle: float) -> np.ndarray:
    """Float32 coverage in [0, 1] of ``word`` drawn anti-aliased and rotated, cropped to its box."""
    face = _font(font, font_size)
    left, top, right, bottom = face.getbbox(word)
    canvas = Image.new("L", (right - left + 4, bottom - top + 4))
    ImageDraw.Draw(canvas).text((2 - left, 2 - top), word, fill=255, font=face)
    rotated = canvas.rotate(angle, resample=Image.BICUBIC, expand=True)
    mask = np.asarray(rotated, np.float32) / 255
    rows, cols = np.nonzero(mask)
    return mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


@functools.cache
def _photo(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


class TextTask:
    """Makes samples of the text task from a folder of photos.

    Args:
        photos: folder of PNG photos at least ``size`` pixels on each side.
        size: side of the square crops.
        x_height: range of the lowercase letter height, in pixels.
        max_angle: rotations are drawn from ``[-max_angle, max_angle]`` degrees.
        contrast: least difference of luma (0-255) between the word and the photo under it.
    """

    def __init__(self, photos: Path, size: int = 256, x_height: tuple[float, float] = (5.0, 8.0),
                 max_angle: float = 10.0, contrast: float = 90.0) -> None:
        self.photos = sorted(Path(photos).glob("*.png"))
        if not self.photos:
            raise FileNotFoundError(f"no PNG photos in {photos}")
        self.size, self.x_height, self.max_angle, self.contrast = size, x_height, max_angle, contrast

    @property
    def settings(self) -> dict:
        """What decides the samples (for a data set's manifest)."""
        return {"photos": str(self.photos[0].parent), "size": self.size, "x_height": list(self.x_height),
                "max_angle": self.max_angle, "contrast": self.contrast, "version": VERSION}

    def sample(self, seed: int, index: int) -> TextSample:
        """Sample ``index`` of the set drawn with ``seed``: a random word, font, size,
        angle, place and colour on a random crop (flipped or not) of a random photo."""
        rng = np.random.default_rng((seed, index))
        label = int(rng.integers(len(PRINTED)))
        font = FONTS[rng.integers(len(FONTS))]
        font_size = round(float(rng.uniform(*self.x_height)) / x_height_per_size(font), 1)
        angle = round(float(rng.uniform(-self.max_angle, self.max_angle)), 1)
        background = self._crop(rng)
        mask = word_mask(PRINTED[label], font, font_size, angle)
        height, width = mask.shape
        top = int(rng.integers(4, self.size - height - 4))
        left = int(rng.integers(4, self.size - width - 4))
        alpha = np.zeros(background.shape[:2], np.float32)
        alpha[top : top + height, left : left + width] = mask
        colour = self._colour(rng, background[alpha > 0.5])
        blended = background * (1 - alpha[..., None]) + np.asarray(colour, np.float32) * alpha[..., None]
        image = np.round(blended).astype(np.uint8)
        return TextSample(image, label, background, alpha, font, font_size, angle, colour)

    def _crop(self, rng: np.random.Generator) -> np.ndarray:
        photo = _photo(self.photos[rng.integers(len(self.photos))])
        top = int(rng.integers(photo.shape[0] - self.size + 1))
        left = int(rng.integers(photo.shape[1] - self.size + 1))
        crop = photo[top : top + self.size, left : left + self.size].astype(np.float32)
        return crop[:, ::-1] if rng.random() < 0.5 else crop

    def _colour(self, rng: np.random.Generator, under: np.ndarray) -> tuple[int, int, int]:
        """A random colour whose luma differs from the mean under the word by ``contrast`` or
        more: darker than a bright background, lighter than a dark one."""
        luma_weights = np.array([0.299, 0.587, 0.114], np.float32)
        background = float(under.mean(axis=0) @ luma_weights) if len(under) else 128.0
        hue = rng.uniform(0, 255, 3).astype(np.float32)
        if background >= 128:
            target = rng.uniform(0, max(0.0, background - self.contrast))
        else:
            target = rng.uniform(min(255.0, background + self.contrast), 255)
        # Move the colour along the grey axis until its luma is the target.
        colour = np.clip(hue + (target - hue @ luma_weights), 0, 255)
        return tuple(int(c) for c in np.round(colour))  # type: ignore[return-value]

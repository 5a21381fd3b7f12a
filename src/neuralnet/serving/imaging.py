"""Images in, images out: turning a drawing or a photo into the 28 x 28 image the network sees.

MNIST's digits were made from black-and-white NIST scans in three steps (LeCun et al.):
each digit was scaled so that the longer side of its bounding box is 20 pixels, keeping the
aspect ratio, with anti-aliasing (which gives the grey levels); then it was placed in a
28 x 28 field so that its centre of mass lies at the centre. The intensities are 0 for the
background and 255 for the ink. ``to_mnist`` repeats those steps on any grey-level array;
``decode_image`` turns the bytes of a PNG or JPEG file into such an array, whatever the
polarity of the picture (light ink on a dark ground, as on the web app's canvas, or dark
ink on paper), and ``image_to_mnist`` does both::

    from neuralnet.imaging import image_to_mnist
    from neuralnet.io import load
    pixels = image_to_mnist(open("seven.jpg", "rb").read())    # (28, 28) uint8, 0 = background
    load("runs/20261125-171532").predict(pixels.reshape(1, 784))

Pillow decodes and resamples; NumPy does the rest. Nothing here is written to disk.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "ImageError",
    "UnreadableImageError",
    "BlankImageError",
    "MNIST_SIDE",
    "BOX_SIDE",
    "MAX_IMAGE_PIXELS",
    "MAX_DECODED_SIDE",
    "shrunk",
    "ACCEPTED_FORMATS",
    "decode_image",
    "ink_from_image",
    "to_mnist",
    "image_to_mnist",
    "encode_png",
    "render_weights",
    "render_map",
]

MNIST_SIDE = 28  # the field: 28 x 28 pixels
BOX_SIDE = 20  # the longer side of the digit's bounding box after scaling
CENTRE = 14.0  # where MNIST puts the centre of mass (row and column index; measured
# on the test set: mean 13.99 and 14.01)
MAX_IMAGE_PIXELS = 4096 * 4096  # larger pictures are refused before they are decoded
MAX_DECODED_SIDE = 1024  # longer pictures are shrunk (whole-pixel block averages) before their ink is found
ACCEPTED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg"}
JPEG_RIPPLE = 0.08  # JPEG's ringing around strokes, as a fraction of the strongest contrast


class ImageError(ValueError):
    """Bytes that are not a usable picture of a digit: not PNG/JPEG, too large, or blank."""


class UnreadableImageError(ImageError):
    """Bytes that are not a complete PNG or JPEG file."""


class BlankImageError(ImageError):
    """A picture in which no ink stands out from the background."""


# --- bytes -> grey levels (0 = background, 255 = ink) ------------------------------------


def decode_image(data: bytes) -> np.ndarray:
    """The ink of a PNG or JPEG file: 0 = background, 255 = ink.

    Parameters
    ----------
    data : bytes
        The file's content.

    Returns
    -------
    ndarray of float32, shape [height, width]

    Raises
    ------
    TypeError
        For data that are not bytes.
    ImageError
        For data that are not a complete PNG or JPEG file (``UnreadableImageError``), an image
        of more than ``MAX_IMAGE_PIXELS`` pixels, or one in which no ink stands out from the
        background (``BlankImageError``).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected the bytes of a PNG or JPEG file, got {type(data).__name__}")
    if len(data) == 0:
        raise UnreadableImageError("the image is empty (0 bytes): expected a PNG or JPEG file")
    try:
        image: Image.Image = Image.open(io.BytesIO(bytes(data)))
    except Image.DecompressionBombError as error:  # Pillow's own limit, far above ours: say so
        raise ImageError(
            f"the image is too large ({error}): expected at most {MAX_IMAGE_PIXELS:,} pixels (e.g. 4096 x 4096)"
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UnreadableImageError(
            f"the data ({len(data)} bytes, starting {bytes(data[:8])!r}) is not "
            "an image that can be read: expected a PNG or JPEG file"
        ) from None
    with image:
        kind = image.format
        if kind not in ACCEPTED_FORMATS:
            raise UnreadableImageError(f"{kind} images are not accepted: expected a PNG or JPEG file")
        width, height = image.size
        if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
            raise ImageError(
                f"the image is {width} x {height} pixels: expected at most "
                f"{MAX_IMAGE_PIXELS:,} pixels (e.g. 4096 x 4096)"
            )
        if kind == "JPEG":
            image.draft("L", (1024, 1024))  # let the JPEG decoder shrink large photos by 2, 4 or 8
        try:
            image.load()
            image = shrunk(image)  # before anything copies it
            image = ImageOps.exif_transpose(image)  # photos from phones: apply the EXIF rotation
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise UnreadableImageError(
                f"the {kind} image is truncated or corrupted ({error}): expected a complete PNG or JPEG file"
            ) from None
        return ink_from_image(image, lossy=kind == "JPEG")


def shrunk(image: Image.Image, longest: int | None = None) -> Image.Image:
    """``image`` made at most ``longest`` pixels (default ``MAX_DECODED_SIDE``) on its longer side
    by averaging blocks of whole pixels (``Image.reduce``), so that the ink of a large picture
    is found on a small one: a 4096 x 4096 drawing costs its decoding, not 16 million floats
    of each step. The digit is scaled to 20 pixels afterwards, so nothing it needs is lost.

    Parameters
    ----------
    image : PIL.Image.Image
        A decoded picture.
    longest : int, optional
        The longest side allowed.

    Returns
    -------
    PIL.Image.Image
        ``image`` itself when it is small enough, else a reduced copy (palette and 16-bit
        pictures converted to a mode that can be averaged first).
    """
    longest = MAX_DECODED_SIDE if longest is None else longest
    factor = math.ceil(max(image.size) / longest)
    if factor <= 1:
        return image
    if image.mode not in ("L", "LA", "RGB", "RGBA", "I", "F"):
        if image.mode.startswith("I;16"):
            image = image.convert("I")
        else:
            has_alpha = "transparency" in image.info or image.mode in ("PA", "La", "RGBa")
            image = image.convert("RGBA" if has_alpha else "RGB")
    return image.reduce(factor)


def ink_from_image(image: Image.Image, lossy: bool = False) -> np.ndarray:
    """Grey levels of ``image`` as ink: 0 = background, 255 = the strongest ink.

    * A transparent background (a border that is mostly transparent) is replaced by the
      colour that contrasts with the opaque strokes, so black or white ink on nothing works.
    * The background level is the median of the outermost pixels; if it is light, the picture
      is dark ink on a light ground and is inverted.
    * Differences from the background up to three times the border's own spread (paper
      texture, JPEG noise, uneven light) count as background. A clean picture, such as a canvas drawing,
      has a uniform border, so none of its grey levels are touched. For a ``lossy`` (JPEG)
      picture, the ripples that compression leaves around strokes, up to 8% of the strongest
      contrast, count as background too: otherwise they widen the digit's bounding box.
    * The remaining contrast is stretched so that the strongest ink is 255, as in MNIST.
    """
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        grey, alpha = _split_alpha(image)
        if np.median(_border(alpha)) < 0.5:
            weight = alpha.sum()
            ink_is_light = weight > 0 and float((grey * alpha).sum() / weight) > 127.5
            background = 0.0 if ink_is_light else 255.0
            grey = grey * alpha + background * (1.0 - alpha)
    elif image.mode.startswith("I;16") or image.mode == "I":  # 16-bit grey PNGs
        grey = np.asarray(image, dtype=np.float32) * (255.0 / 65535.0)
    else:
        grey = np.asarray(image.convert("L"), dtype=np.float32)

    border = _border(grey)
    background = float(np.median(border))
    contrast = (background - grey) if background > 127.5 else (grey - background)
    # the border's spread (median absolute deviation, robust to ink that touches the edge),
    # as a standard deviation (x 1.4826), three of them
    noise = 3.0 * 1.4826 * float(np.median(np.abs(border - background)))
    if lossy:
        noise = max(noise, JPEG_RIPPLE * float(contrast.max()))
    contrast = np.clip(contrast - noise, 0.0, None)
    strongest = float(contrast.max())
    if strongest <= 0.0:
        raise BlankImageError(
            "the image is blank: no ink stands out from the background; expected a "
            "digit drawn dark on light or light on dark"
        )
    return np.minimum(contrast * (255.0 / strongest), 255.0).astype(np.float32)  # no 255.00001


def _split_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    la = np.asarray(image.convert("RGBA").convert("LA"), dtype=np.float32)
    return la[..., 0], la[..., 1] / 255.0


def _border(array: np.ndarray) -> np.ndarray:
    """The outermost rows and columns of a 2-D array, as one vector."""
    if min(array.shape) <= 2:
        return array.ravel()
    return np.concatenate([array[0], array[-1], array[1:-1, 0], array[1:-1, -1]])


# --- grey levels -> the MNIST 28 x 28 -----------------------------------------------------


def to_mnist(ink) -> np.ndarray:
    """MNIST's normalization of a grey-level image (0 = background, 255 = ink), any size.

    Crop to the bounding box of the ink, scale its longer side to 20 pixels keeping the aspect
    ratio (area averaging when shrinking, bilinear when enlarging), stretch the grey levels so
    the strongest is 255, and place it in a 28 x 28 field with its centre of mass at the
    centre (shifted by whole pixels, and never so far that ink falls off the field).

    Parameters
    ----------
    ink : array_like of shape [height, width]
        Grey levels in [0, 255].

    Returns
    -------
    ndarray of uint8, shape [28, 28]

    Raises
    ------
    ValueError
        For an array that is not 2-D, or grey levels that are not finite or outside [0, 255].
    BlankImageError
        For an image without ink (all pixels 0).
    """
    ink = np.asarray(ink, dtype=np.float64)
    if ink.ndim != 2 or min(ink.shape) < 1:
        raise ValueError(f"expected a 2-D grey-level image (height, width), got shape {ink.shape}")
    if not np.all(np.isfinite(ink)):
        raise ValueError("the image contains NaN or infinite values: expected grey levels in [0, 255]")
    if ink.min() < 0 or ink.max() > 255:
        raise ValueError(f"grey levels must be in [0, 255], got [{ink.min():g}, {ink.max():g}]")
    rows, cols = np.nonzero(ink > 0)
    if rows.size == 0:
        raise BlankImageError("the image is blank (all pixels are 0): expected some ink")

    # 1. crop to the ink's bounding box
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    height, width = box.shape

    # 2. the longer side becomes 20 pixels, the shorter one keeps the aspect ratio
    scale = BOX_SIDE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # Pillow: (w, h)
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(box.astype(np.float32)).resize(size, resample), dtype=np.float64)
    small = np.clip(small, 0.0, 255.0)
    small *= 255.0 / small.max()

    # 3. centre of mass to the centre of the 28 x 28 field
    mass = small.sum()
    centre_row = (small.sum(axis=1) @ np.arange(small.shape[0])) / mass
    centre_col = (small.sum(axis=0) @ np.arange(small.shape[1])) / mass
    top = int(np.clip(round(CENTRE - centre_row), 0, MNIST_SIDE - small.shape[0]))
    left = int(np.clip(round(CENTRE - centre_col), 0, MNIST_SIDE - small.shape[1]))
    field = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.uint8)
    field[top : top + small.shape[0], left : left + small.shape[1]] = np.rint(small).astype(np.uint8)
    return field


def image_to_mnist(data: bytes) -> np.ndarray:
    """The bytes of a PNG or JPEG picture of a digit -> the image the network sees.

    Parameters
    ----------
    data : bytes
        The file's content.

    Returns
    -------
    ndarray of uint8, shape [28, 28]
        ``to_mnist(decode_image(data))``.
    """
    return to_mnist(decode_image(data))


# --- arrays -> PNG ------------------------------------------------------------------------


def encode_png(pixels, scale: int = 1, invert: bool = False) -> bytes:
    """A square grey-level image (784 values or 28 x 28, 0..255) as PNG bytes, each pixel
    drawn as a ``scale`` x ``scale`` block; ``invert`` draws dark ink on white."""
    pixels = np.asarray(pixels)
    side = int(round(np.sqrt(pixels.size)))
    if side * side != pixels.size or pixels.ndim not in (1, 2):
        raise ValueError(f"expected a square image (e.g. 784 values or 28 x 28), got shape {pixels.shape}")
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    grey = np.clip(np.rint(np.asarray(pixels, dtype=np.float64).reshape(side, side)), 0, 255).astype(np.uint8)
    if invert:
        grey = 255 - grey
    image = Image.fromarray(grey)
    if scale > 1:
        image = image.resize((side * scale, side * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_weights(weights, scale: int = 4, colormap: str = "seismic") -> bytes:
    """Weights as a PNG in a diverging colour map (matplotlib's "seismic", as in the run's
    figures): red for positive, blue for negative, white for zero, scaled symmetrically by the
    largest magnitude. ``weights``: one hidden unit's incoming weights (784 values, shown as
    28 x 28) or any 2-D grid (a convolution filter)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim == 1:
        side = int(round(np.sqrt(weights.size)))
        if side * side != weights.size:
            raise ValueError(f"expected a square number of weights (e.g. 784), got shape {weights.shape}")
        weights = weights.reshape(side, side)
    if weights.ndim != 2 or not weights.size:
        raise ValueError(f"expected 784 weights or a 2-D grid of them, got shape {weights.shape}")
    if not np.all(np.isfinite(weights)):
        raise ValueError("the weights contain NaN or infinite values")
    limit = float(np.abs(weights).max()) or 1.0
    return _png_of(0.5 + 0.5 * weights / limit, scale, colormap)


def render_map(values, scale: int = 4, colormap: str = "magma") -> bytes:
    """A feature map (a 2-D grid of activations) as a PNG, its smallest value dark and its largest
    bright (all dark for a map that is constant)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or not np.all(np.isfinite(values)):
        raise ValueError(f"expected a 2-D grid of finite values, got shape {values.shape}")
    low, high = float(values.min()), float(values.max())
    return _png_of((values - low) / (high - low) if high > low else np.zeros_like(values), scale, colormap)


def _png_of(unit: np.ndarray, scale: int, colormap: str) -> bytes:
    """Values in [0, 1] on a 2-D grid, coloured by ``colormap``, scaled up ``scale`` times."""
    from matplotlib import colormaps

    rgba = colormaps[colormap](unit, bytes=True)
    image = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
    if scale > 1:
        image = image.resize((unit.shape[1] * scale, unit.shape[0] * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()

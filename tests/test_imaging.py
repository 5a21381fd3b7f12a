"""neuralnet.serving.imaging: pictures of digits -> the 28 x 28 MNIST-style image the network sees."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from neuralnet.serving.imaging import (
    BOX_SIDE,
    MAX_IMAGE_PIXELS,
    BlankImageError,
    ImageError,
    UnreadableImageError,
    decode_image,
    encode_png,
    image_to_mnist,
    render_weights,
    to_mnist,
)


def png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def ink_bbox(image: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(image)
    return rows.min(), rows.max(), cols.min(), cols.max()


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    image = image.astype(np.float64)
    rows, cols = np.indices(image.shape)
    return (image * rows).sum() / image.sum(), (image * cols).sum() / image.sum()


def upscale(pixels: np.ndarray, factor: int) -> np.ndarray:
    """A 28 x 28 image drawn with factor x factor blocks (as a painted canvas would be)."""
    return np.kron(pixels.reshape(28, 28), np.ones((factor, factor))).astype(np.uint8)


@pytest.fixture(scope="module")
def test_digits(mnist):
    X, y = mnist
    return X[60000:60100], y[60000:60100]


# --- the MNIST normalization --------------------------------------------------------------


def test_mnist_test_images_survive_the_round_trip_through_a_painted_png(test_digits):
    """MNIST digits are already normalized: drawn 10x larger and sent as a PNG, they come back."""
    X, _ = test_digits
    errors = []
    for row in X:
        seen = image_to_mnist(encode_png(row, scale=10))
        assert seen.shape == (28, 28) and seen.dtype == np.uint8
        errors.append(np.abs(seen.astype(int) - row.reshape(28, 28)).mean())
    assert np.mean(errors) < 0.1  # grey levels out of 255, averaged over the 100 digits
    assert max(errors) < 1.0


def test_position_size_and_polarity_of_a_drawing_do_not_matter(test_digits):
    X, _ = test_digits
    digit = X[3]
    reference = image_to_mnist(encode_png(digit, scale=10))
    for factor, (top, left), dark_on_light in [(4, (5, 200), False), (13, (40, 3), True), (7, (0, 0), True)]:
        canvas = np.zeros((420, 500), dtype=np.uint8)
        big = upscale(digit, factor)
        canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
        if dark_on_light:
            canvas = 255 - canvas
        seen = image_to_mnist(png_bytes(Image.fromarray(canvas)))
        assert np.abs(seen.astype(int) - reference).mean() < 6, (factor, top, left, dark_on_light)


def test_longer_side_becomes_20_pixels_keeping_the_aspect_ratio():
    ink = np.zeros((300, 400))
    ink[50:250, 100:160] = 255  # a bar 200 high and 60 wide
    seen = to_mnist(ink)
    top, bottom, left, right = ink_bbox(seen)
    assert bottom - top + 1 == BOX_SIDE
    assert right - left + 1 == 6  # 60 * 20 / 200
    ink = np.zeros((100, 100))
    ink[40:44, 10:90] = 255  # a wide, flat bar: 4 x 80
    top, bottom, left, right = ink_bbox(to_mnist(ink))
    assert (right - left + 1, bottom - top + 1) == (BOX_SIDE, 1)


def test_a_tiny_drawing_is_scaled_up_to_20_pixels_like_the_mnist_digits():
    ink = np.zeros((50, 50))
    ink[20:25, 30:32] = 200
    seen = to_mnist(ink)
    top, bottom, left, right = ink_bbox(seen)
    assert bottom - top + 1 == BOX_SIDE and seen.max() == 255


def test_centre_of_mass_lands_on_the_centre_of_the_field():
    ink = np.zeros((200, 200))
    ink[20:180, 30:60] = 255  # an L: heavy on the left and the bottom
    ink[150:180, 30:170] = 255
    seen = to_mnist(ink)
    row, col = centre_of_mass(seen)
    assert abs(row - 14) <= 0.5 and abs(col - 14) <= 0.5


strokes = st.lists(
    st.tuples(st.integers(0, 199), st.integers(0, 149), st.integers(0, 199), st.integers(0, 149), st.integers(1, 25)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=60, deadline=None)
@given(strokes=strokes, light_ink=st.booleans())
def test_any_drawing_becomes_an_mnist_style_image(strokes, light_ink):
    """Whatever is drawn: 28 x 28 uint8, ink up to 255, the longer side of the box 20 pixels
    (19 when an edge pixel averages to less than one grey level), centre of mass within half a
    pixel of the centre (plus a little: the grey levels are rounded to integers after the shift)
    unless the ink already touches the edge of the field."""
    image = Image.new("L", (150, 200), 0 if light_ink else 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1, width in strokes:
        draw.line([(y0, x0), (y1, x1)], fill=255 if light_ink else 0, width=width)
    seen = image_to_mnist(png_bytes(image))
    assert seen.shape == (28, 28) and seen.dtype == np.uint8 and seen.max() == 255
    top, bottom, left, right = ink_bbox(seen)
    assert max(bottom - top, right - left) + 1 in (BOX_SIDE - 1, BOX_SIDE)
    row, col = centre_of_mass(seen)
    assert abs(row - 14) <= 0.55 or top == 0 or bottom == 27
    assert abs(col - 14) <= 0.55 or left == 0 or right == 27


@settings(max_examples=80, deadline=None)
@given(
    mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"]),
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    fmt=st.sampled_from(["PNG", "JPEG"]),
)
def test_any_small_picture_gives_an_image_or_says_it_is_blank(mode, width, height, seed, fmt):
    """Odd sizes (1 x 1, 1 x 40), every colour mode and random content: never a crash."""
    if fmt == "JPEG" and mode not in ("L", "RGB", "CMYK"):
        mode = "RGB"
    if fmt == "PNG" and mode == "CMYK":
        mode = "P"
    rng = np.random.default_rng(seed)
    image = Image.new(mode, (width, height))
    noise = Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8))
    image.paste(noise.convert(mode) if mode != "I;16" else noise.convert("I").convert("I;16"))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    try:
        seen = image_to_mnist(buffer.getvalue())
    except BlankImageError:
        return
    assert seen.shape == (28, 28) and seen.dtype == np.uint8 and seen.max() == 255


# --- decoding: formats, polarity, transparency, noise -----------------------------------------


def test_dark_ink_on_paper_gives_the_same_image_as_light_ink_on_black(test_digits):
    X, _ = test_digits
    light = encode_png(X[0], scale=8)
    dark = encode_png(X[0], scale=8, invert=True)
    np.testing.assert_array_equal(image_to_mnist(dark), image_to_mnist(light))
    assert decode_image(dark).max() == 255 and decode_image(dark)[0, 0] == 0  # background is 0


def similarity(seen: np.ndarray, original: np.ndarray) -> float:
    """Correlation of two 28 x 28 images, allowing a shift of one pixel (the centring rounds the
    centre of mass to whole pixels, so a slightly different box may move the digit by one)."""
    seen, original = seen.reshape(28, 28).astype(float), original.reshape(28, 28).astype(float)
    return max(
        np.corrcoef(np.roll(seen, (dy, dx), axis=(0, 1)).ravel(), original.ravel())[0, 1]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )


def test_a_jpeg_of_dark_ink_is_inverted_and_matches_the_digit(test_digits):
    X, _ = test_digits
    for row in X[:20]:
        image = Image.open(io.BytesIO(encode_png(row, scale=9, invert=True))).convert("RGB")
        seen = image_to_mnist(jpeg_bytes(image, quality=85))
        assert similarity(seen, row) > 0.95


def test_paper_texture_and_uneven_light_are_background(test_digits):
    """A grey, unevenly lit, noisy sheet of paper: the digit's box is found, not the sheet's."""
    X, _ = test_digits
    rng = np.random.default_rng(0)
    for row in X[:5]:
        digit = upscale(row, 6).astype(float)  # 168 x 168
        paper = 170 + 40 * np.linspace(0, 1, 300)[None, :] + rng.normal(0, 6, (300, 300))
        paper[60:228, 80:248] -= digit * (120 / 255)  # ink darker than the paper by up to 120
        photo = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8))
        seen = image_to_mnist(jpeg_bytes(photo))
        top, bottom, left, right = ink_bbox(seen)
        assert max(bottom - top, right - left) + 1 == BOX_SIDE and bottom - top < 27 and right - left < 27
        assert similarity(seen, row) > 0.85


@pytest.mark.parametrize("ink_colour", [(0, 0, 0, 255), (255, 255, 255, 255), (200, 30, 30, 255)])
def test_strokes_on_a_transparent_background(ink_colour):
    def drawing(mode, background, colour):
        image = Image.new(mode, (120, 120), background)
        ImageDraw.Draw(image).line([(60, 10), (60, 110), (90, 110)], fill=colour, width=9)
        return png_bytes(image)

    reference = image_to_mnist(drawing("L", 0, 255))
    seen = image_to_mnist(drawing("RGBA", (0, 0, 0, 0) if ink_colour[0] else (255, 255, 255, 0), ink_colour))
    np.testing.assert_array_equal(seen, reference)


def test_a_16_bit_grey_png_is_read_with_its_full_range(test_digits):
    X, _ = test_digits
    wide = upscale(X[2], 5).astype(np.uint16) * 257
    image = Image.fromarray(wide)  # mode "I;16"
    assert image.mode.startswith("I;16")
    np.testing.assert_array_equal(image_to_mnist(png_bytes(image)), image_to_mnist(encode_png(X[2], scale=5)))


def test_the_exif_rotation_of_a_photo_is_applied(test_digits):
    X, _ = test_digits
    upright = Image.open(io.BytesIO(encode_png(X[4], scale=6)))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a phone held sideways stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    seen = image_to_mnist(png_bytes(stored, exif=exif))
    np.testing.assert_array_equal(seen, image_to_mnist(encode_png(X[4], scale=6)))


# --- errors that say what was expected ------------------------------------------------------


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (20, 20), 255).save(buffer, format="GIF")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data, error, message",
    [
        (b"", UnreadableImageError, "empty"),
        (b"hello, this is text", UnreadableImageError, "not an image"),
        (b"%PDF-1.4\n" + bytes(200), UnreadableImageError, "expected a PNG or JPEG"),
        (gif_bytes(), UnreadableImageError, "GIF images are not accepted: expected a PNG or JPEG"),
        (png_bytes(Image.new("L", (64, 64), 255)), BlankImageError, "blank"),
        (png_bytes(Image.new("RGBA", (64, 64), (0, 0, 0, 0))), BlankImageError, "blank"),
    ],
)
def test_bad_pictures_are_refused_with_a_message(data, error, message):
    with pytest.raises(error, match=message):
        image_to_mnist(data)


def test_a_truncated_png_is_refused():
    data = png_bytes(Image.fromarray(np.random.default_rng(1).integers(0, 255, (200, 200), dtype=np.uint8)))
    with pytest.raises(UnreadableImageError, match="truncated or corrupted"):
        image_to_mnist(data[: len(data) // 2])


def test_an_image_with_too_many_pixels_is_refused_before_decoding():
    side = int(np.sqrt(MAX_IMAGE_PIXELS)) + 1
    data = png_bytes(Image.new("1", (side, side), 0))  # a few kilobytes that would decode to 16 MB
    assert len(data) < 100_000
    with pytest.raises(ImageError, match=f"{side} x {side} pixels: expected at most"):
        image_to_mnist(data)


@pytest.mark.parametrize(
    "ink, message",
    [
        (np.zeros((3, 4, 5)), "expected a 2-D grey-level image"),
        (np.full((5, 5), np.nan), "NaN or infinite"),
        (np.full((5, 5), 300.0), r"must be in \[0, 255\]"),
        (np.full((5, 5), -1.0), r"must be in \[0, 255\]"),
    ],
)
def test_to_mnist_names_what_is_wrong_with_an_array(ink, message):
    with pytest.raises(ValueError, match=message):
        to_mnist(ink)


def test_to_mnist_of_an_empty_field_is_blank():
    with pytest.raises(BlankImageError, match="blank"):
        to_mnist(np.zeros((28, 28)))


def test_decode_image_wants_bytes():
    with pytest.raises(TypeError, match="expected the bytes of a PNG or JPEG file"):
        decode_image("digit.png")


# --- drawing arrays ---------------------------------------------------------------------------


def test_encode_png_draws_each_pixel_as_a_block(test_digits):
    X, _ = test_digits
    image = Image.open(io.BytesIO(encode_png(X[0], scale=3)))
    assert image.format == "PNG" and image.size == (84, 84)
    np.testing.assert_array_equal(np.asarray(image)[::3, ::3], X[0].reshape(28, 28))
    with pytest.raises(ValueError, match="expected a square image"):
        encode_png(np.zeros(780))


def test_render_weights_draws_positive_red_negative_blue_zero_white():
    weights = np.zeros(784)
    weights[0], weights[1], weights[2] = 2.0, -2.0, 1.0
    image = np.asarray(Image.open(io.BytesIO(render_weights(weights, scale=4)))).astype(int)
    assert image.shape == (112, 112, 3)
    largest, most_negative, half, zero = image[0, 0], image[0, 4], image[0, 8], image[100, 100]
    assert largest[0] > 100 and max(largest[1:]) < 10  # dark red
    assert most_negative[2] > 50 and max(most_negative[:2]) < 10  # dark blue
    assert half[0] > 200 and max(half[1:]) < 60  # bright red
    assert min(zero) >= 250  # white
    with pytest.raises(ValueError, match="square number of weights"):
        render_weights(np.zeros(100 + 1))
    with pytest.raises(ValueError, match="NaN or infinite"):
        render_weights(np.full(784, np.nan))

"""A user's own images: a folder of class-named sub-folders of PNG or JPEG files
(``cats/001.png``, ``dogs/002.jpg``: the common "image folder" layout), and a folder holding
the four IDX files of any MNIST-like set (EMNIST, KMNIST, QMNIST...).

Images are read with Pillow, all resized to one size (``image_size``, by default the most common
size among them) and kept as uint8 rows [n, channels * height * width] with their image shape
[channels, height, width]: grayscale images have one channel, colour images three. Every problem is
a ``DataError`` naming the file and what was expected.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from .idx import IDXFormatError, read_idx
from .tables import DataError

__all__ = ["ImageSet", "read_image_folder", "read_idx_folder", "is_idx_folder", "image_rows", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
#: Pillow's modes, grouped: one channel or three
GRAY_MODES, COLOUR_MODES = {"1", "L", "LA", "I", "I;16", "F"}, {"RGB", "RGBA", "P", "CMYK", "YCbCr"}
MAX_PIXELS = 4096 * 4096


class ImageSet:
    """Images as uint8 rows, their shape, labels (class indices), class names, and the set's own
    test part when it has one."""

    def __init__(self, X, y, class_names, image_shape, X_test=None, y_test=None, files=None):
        self.X, self.y, self.class_names, self.image_shape = X, y, list(class_names), tuple(image_shape)
        self.X_test, self.y_test, self.files = X_test, y_test, files


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        if image.width * image.height > MAX_PIXELS:
            raise DataError(
                f"{path} is {image.width} x {image.height} pixels, more than the {MAX_PIXELS:,} an image "
                "may have here; make it smaller"
            )
        image.load()
        return image
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path} is not an image that can be read (PNG or JPEG): {error}") from None


def read_image_folder(folder: str | Path, image_size: int | None = None) -> ImageSet:
    """Every PNG or JPEG of the class-named sub-folders of ``folder``, as one image set.

    Refused: a folder without class sub-folders, a class folder without images, a file that is
    not an image, fewer than two classes, grayscale and colour images together.
    """

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(
            f"{folder} has no sub-folders: expected one folder per class, holding that class's images "
            f"(e.g. {folder}/cat/1.png, {folder}/dog/2.jpg)"
        )
    files: list[tuple[Path, int]] = []
    for index, class_folder in enumerate(classes):
        found = sorted(p for p in class_folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not found:
            raise DataError(f"{class_folder} (class {class_folder.name!r}) holds no images")
        files += [(path, index) for path in found]
    if len(classes) < 2:
        raise DataError(f"{folder} has one class folder ({classes[0].name!r}); a classifier needs at least two")
    images = []
    modes: dict[str, Path] = {}  # kind of image -> the first file of that kind
    for path, _ in files:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise DataError(f"{path} is not a PNG or JPEG file (by its name); the class folders may hold only images")
        image = _open(path)
        kind = "gray" if image.mode in GRAY_MODES else "colour" if image.mode in COLOUR_MODES else None
        if kind is None:
            raise DataError(f"{path} has the image mode {image.mode!r}; expected grayscale or RGB images")
        modes.setdefault(kind, path)
        images.append(image)
    if len(modes) > 1:
        raise DataError(
            f"{folder} mixes grayscale and colour images (e.g. {modes['gray']} is grayscale, "
            f"{modes['colour']} colour); make them all one kind"
        )
    colour = "colour" in modes
    if image_size is None:
        (width, height), _ = Counter(image.size for image in images).most_common(1)[0]
    else:
        width = height = int(image_size)
    channels = 3 if colour else 1
    X = np.empty((len(images), channels * height * width), dtype=np.uint8)
    for row, image in enumerate(images):
        X[row] = _pixels(image, (channels, height, width))
    y = np.array([index for _, index in files], dtype=np.int64)
    return ImageSet(X, y, [c.name for c in classes], (channels, height, width), files=[str(p) for p, _ in files])


#: the roles of an IDX set's four files, recognised by the words in their names
_ROLES = {
    "train_images": ("train", "images"),
    "train_labels": ("train", "labels"),
    "test_images": ("test", "images"),
    "test_labels": ("test", "labels"),
}


def _idx_files(folder: Path) -> dict[str, Path]:
    found: dict[str, list[Path]] = {role: [] for role in _ROLES}
    for path in sorted(folder.iterdir()):
        name = path.name.lower()
        if not path.is_file() or "idx" not in name:
            continue
        part = "train" if "train" in name else "test" if ("t10k" in name or "test" in name) else None
        kind = (
            "images"
            if ("image" in name or "idx3" in name)
            else "labels"
            if ("label" in name or "idx1" in name)
            else None
        )
        for role, words in _ROLES.items():
            if (part, kind) == words:
                found[role].append(path)
    return {role: paths[0] for role, paths in found.items() if len(paths) == 1}


def is_idx_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds the four files of an IDX set."""
    folder = Path(folder)
    return folder.is_dir() and len(_idx_files(folder)) == 4


def read_idx_folder(folder: str | Path) -> ImageSet:
    """The four IDX files of a folder (names with train/t10k or test and images/labels, gzip or not):
    the training images and labels, and the test ones as the set's own test part. Any image size
    and any number of classes; the class names are the label values."""
    folder = Path(folder)
    files = _idx_files(folder)
    if len(files) != 4:
        raise DataError(
            f"{folder} does not hold the four IDX files of a data set (train and test images and "
            f"labels); found {sorted(p.name for p in files.values()) or 'none'}"
        )
    try:
        arrays = {role: read_idx(path) for role, path in files.items()}
    except IDXFormatError as error:
        raise DataError(str(error)) from None
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DataError(
                f"{files[f'{part}_images']}: expected uint8 images [n, height, width], got {images.dtype} "
                f"{images.shape}"
            )
        if labels.ndim != 1:
            raise DataError(f"{files[f'{part}_labels']}: expected labels [n], got shape {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{folder}: {files[f'{part}_images'].name} holds {images.shape[0]} images but "
                f"{files[f'{part}_labels'].name} {labels.shape[0]} labels; the counts must agree"
            )
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise DataError(
            f"{folder}: the training images are {arrays['train_images'].shape[1:]}, the test images "
            f"{arrays['test_images'].shape[1:]}; expected one size"
        )
    values = np.unique(np.concatenate([arrays["train_labels"], arrays["test_labels"]]))
    height, width = arrays["train_images"].shape[1:]

    def rows(images):
        return images.reshape(images.shape[0], height * width)

    def labels_of(labels):  # label values -> class indices 0..k-1
        return np.searchsorted(values, labels).astype(np.int64)

    return ImageSet(
        rows(arrays["train_images"]),
        labels_of(arrays["train_labels"]),
        [str(int(v)) for v in values],
        (1, height, width),
        rows(arrays["test_images"]),
        labels_of(arrays["test_labels"]),
    )


def _pixels(image, shape: tuple[int, int, int]) -> np.ndarray:
    """One image as a uint8 row of ``shape`` [channels, height, width]: converted to grayscale or
    RGB, resized (Lanczos), channels first as the network takes them."""
    from PIL import Image

    channels, height, width = shape
    image = image.convert("RGB" if channels == 3 else "L")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.uint8)
    return (pixels.transpose(2, 0, 1) if channels == 3 else pixels).ravel()


def image_rows(paths, image_shape) -> np.ndarray:
    """The images at ``paths`` as uint8 rows of ``image_shape`` ([channels, height, width]; or
    [height * width] for square grayscale rows)."""
    shape = tuple(image_shape)
    if len(shape) == 1:
        side = int(round(np.sqrt(shape[0])))
        shape = (1, side, side)
    rows = np.empty((len(paths), int(np.prod(shape))), dtype=np.uint8)
    for row, path in enumerate(paths):
        rows[row] = _pixels(_open(Path(path)), shape)
    return rows

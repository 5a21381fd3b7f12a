"""MNIST and Fashion-MNIST: where their files live, how to fetch them, how to load them.

A data folder ("root") holds one subfolder per data set, ``mnist/`` and
``fashion-mnist/``, each with the four canonical IDX files (gzip-compressed
``.gz`` files, or uncompressed copies without the ``.gz``). Roots are
searched in this order: an explicit ``data_dir``, ``$NEURALNET_DATA_DIR``,
then the per-user cache folder (``default_cache_dir()``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import DownloadError, download_file
from .idx import IDXFormatError, read_idx

__all__ = [
    "DATASETS",
    "DataNotFoundError",
    "DatasetInfo",
    "candidate_data_dirs",
    "default_cache_dir",
    "get_dataset_info",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "locate_dataset_files",
]

DATA_DIR_ENV = "NEURALNET_DATA_DIR"
CACHE_DIR_ENV = "NEURALNET_CACHE_DIR"

IMAGE_SHAPE = (28, 28)
N_TRAIN = 60_000
N_TEST = 10_000
N_CLASSES = 10

#: The four files of a data set, by role, under their canonical (gzip) names.
FILE_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class DatasetInfo:
    """What the loader knows about one data set."""

    name: str
    folder: str
    title: str
    sha256: dict[str, str]  # canonical file name -> SHA-256 of the decompressed content
    class_names: tuple[str, ...]
    mirrors: tuple[str, ...]  # base URLs; a file's URL is base + canonical file name

    @property
    def file_names(self) -> dict[str, str]:
        """The four canonical file names, by role."""
        return dict(FILE_NAMES)


DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        folder="mnist",
        title="MNIST",
        sha256={
            "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        class_names=tuple(str(digit) for digit in range(10)),
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        folder="fashion-mnist",
        title="Fashion-MNIST",
        sha256={
            "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
    ),
}


class DataNotFoundError(FileNotFoundError):
    """A data set's files are not on disk (and could not be downloaded)."""

    def __str__(self) -> str:
        return self.args[0]


def get_dataset_info(name: str) -> DatasetInfo:
    """Return the table entry of data set ``name`` ("mnist" or "fashion-mnist")."""
    key = str(name).strip().lower().replace("_", "-")
    if key == "fashionmnist":
        key = "fashion-mnist"
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; expected one of {sorted(DATASETS)}")
    return DATASETS[key]


def default_cache_dir() -> Path:
    """Return the per-user cache folder for downloaded data sets.

    ``$NEURALNET_CACHE_DIR`` if set; otherwise ``$XDG_CACHE_HOME/neuralnet``
    or ``~/.cache/neuralnet`` on Linux, ``~/Library/Caches/neuralnet`` on
    macOS, ``%LOCALAPPDATA%\\neuralnet\\Cache`` on Windows.
    """
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        local_app_data = os.environ.get("LOCALAPPDATA")
        base = Path(local_app_data) if local_app_data else Path.home() / "AppData" / "Local"
        return base / "neuralnet" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "neuralnet"
    xdg_cache = os.environ.get("XDG_CACHE_HOME")
    if xdg_cache and Path(xdg_cache).is_absolute():
        return Path(xdg_cache) / "neuralnet"
    return Path.home() / ".cache" / "neuralnet"


def candidate_data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Return the root data folders to search, in order, without duplicates.

    An explicit ``data_dir`` comes first, then ``$NEURALNET_DATA_DIR`` if
    set, then ``default_cache_dir()``. Each root holds one subfolder per
    data set (``mnist/``, ``fashion-mnist/``).
    """
    roots = []
    if data_dir is not None:
        roots.append(Path(data_dir).expanduser())
    env_dir = os.environ.get(DATA_DIR_ENV)
    if env_dir:
        roots.append(Path(env_dir).expanduser())
    roots.append(default_cache_dir())
    unique = []
    for root in roots:
        if root not in unique:
            unique.append(root)
    return unique


def locate_dataset_files(name: str, data_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Return the paths of the four files of data set ``name``, by role.

    The roles are "train_images", "train_labels", "test_images" and
    "test_labels". The first searched folder holding all four wins (see
    ``candidate_data_dirs``; an explicit ``data_dir`` may also hold the files
    directly). Raises ``DataNotFoundError`` naming what is missing where.
    """
    info = get_dataset_info(name)
    folders = _dataset_folders(info, data_dir)
    for folder in folders:
        files = _complete_file_set(folder)
        if files is not None:
            return files
    raise DataNotFoundError(_not_found_message(info, folders, data_dir))


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    mirrors: str | list[str] | tuple[str, ...] | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Load all 70,000 examples of data set ``name`` as ``(X, y)``: the 60,000 training images
    followed by the 10,000 test images (the order of scikit-learn's ``fetch_openml``).

    Parameters
    ----------
    name : str
        The data set, one of ``DATASETS`` ("mnist", "fashion-mnist").
    data_dir : str or path, optional
        A folder searched first; it may also hold the four files directly (see
        ``candidate_data_dirs``).
    download : bool, default True
        If no searched folder has all four files, download the missing files into
        ``<first candidate root>/<data set folder>``.
    mirrors : str or sequence of str, optional
        Where to download from; by default the data set's known mirrors.
    progress : bool, default True
        Show the downloads' progress.

    Returns
    -------
    X : ndarray of uint8, shape [70000, 784]
        The pixels, C-contiguous.
    y : ndarray of int64, shape [70000]
        The labels.

    Raises
    ------
    DataNotFoundError
        If the files are missing and cannot be downloaded.
    IDXFormatError
        If a file is not what is expected.
    """
    info = get_dataset_info(name)
    try:
        files = locate_dataset_files(info.name, data_dir)
    except DataNotFoundError:
        if not download:
            raise
        files = _download_missing_files(info, data_dir, mirrors, progress)
    return _read_dataset_files(files)


def load_mnist(data_dir=None, download: bool = True, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST as ``(X, y)``; see ``load_dataset``."""
    return load_dataset("mnist", data_dir=data_dir, download=download, **kwargs)


def load_fashion_mnist(data_dir=None, download: bool = True, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST as ``(X, y)``; see ``load_dataset``."""
    return load_dataset("fashion-mnist", data_dir=data_dir, download=download, **kwargs)


def _dataset_folders(info: DatasetInfo, data_dir) -> list[Path]:
    """Return the folders that may hold the data set's files, in search order."""
    folders = []
    for root in candidate_data_dirs(data_dir):
        folders.append(root / info.folder)
        if data_dir is not None and root == Path(data_dir).expanduser():
            if not _is_other_dataset_folder(root, info):
                folders.append(root)
    return folders


def _is_other_dataset_folder(folder: Path, info: DatasetInfo) -> bool:
    """True if ``folder`` is named after another data set (so its files are not ours)."""
    return any(folder.name == other.folder for other in DATASETS.values() if other != info)


def _find_file(folder: Path, canonical_name: str) -> Path | None:
    """Return the .gz file or its uncompressed copy in ``folder``, if either exists."""
    for candidate in (folder / canonical_name, folder / canonical_name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _complete_file_set(folder: Path) -> dict[str, Path] | None:
    """Return the four files in ``folder`` by role, or None if any is missing."""
    files: dict[str, Path] = {}
    for role, file_name in FILE_NAMES.items():
        path = _find_file(folder, file_name)
        if path is None:
            return None
        files[role] = path
    return files


def _missing_file_names(folder: Path) -> list[str]:
    """Return the canonical names of the files ``folder`` lacks."""
    return [name for name in FILE_NAMES.values() if _find_file(folder, name) is None]


def _download_target(info: DatasetInfo, data_dir) -> Path:
    """Return the folder downloads go to: the first candidate root's data set folder."""
    return candidate_data_dirs(data_dir)[0] / info.folder


def _download_missing_files(info: DatasetInfo, data_dir, mirrors, progress) -> dict[str, Path]:
    """Download the files the target folder lacks; return the complete set.

    Raises ``DataNotFoundError`` (listing each failed download) if any file
    could not be downloaded.
    """
    target = _download_target(info, data_dir)
    base_urls = info.mirrors if mirrors is None else _as_url_list(mirrors)
    failures: dict[str, DownloadError] = {}
    for file_name in _missing_file_names(target):
        urls = [_join_url(base, file_name) for base in base_urls]
        try:
            download_file(urls, target / file_name, info.sha256[file_name], progress=progress)
        except DownloadError as exc:
            failures[file_name] = exc
    files = _complete_file_set(target)
    if failures or files is None:
        folders = _dataset_folders(info, data_dir)
        raise DataNotFoundError(_not_found_message(info, folders, data_dir, failures))
    return files


def _as_url_list(mirrors) -> list[str]:
    """Accept one base URL or a sequence of them."""
    url_list = [mirrors] if isinstance(mirrors, str) else list(mirrors)
    if not url_list:
        raise ValueError("mirrors is empty; expected at least one base URL")
    return url_list


def _join_url(base: str, file_name: str) -> str:
    """Append ``file_name`` to a mirror's base URL."""
    return base.rstrip("/") + "/" + file_name


def _not_found_message(info, folders, data_dir, failures=None) -> str:
    """Explain which files are missing where, where to put them, and why downloads failed."""
    file_list = ", ".join(FILE_NAMES.values())
    lines = [f"{info.title} data files not found. Searched these folders:"]
    for folder in folders:
        if not folder.is_dir():
            lines.append(f"  {folder}: folder does not exist")
        else:
            lines.append(f"  {folder}: missing {', '.join(_missing_file_names(folder))}")
    if data_dir is not None and _is_other_dataset_folder(Path(data_dir).expanduser(), info):
        lines.append(f"  ({Path(data_dir).expanduser()} itself was not searched: it is named after another data set)")
    target = _download_target(info, data_dir)
    lines.append(
        f"Put the four files ({file_list}; uncompressed copies without .gz also work) "
        f"in {target}{os.sep}, or set {DATA_DIR_ENV} / pass --data-dir to a folder "
        f"that holds {info.folder}{os.sep}."
    )
    if failures:
        lines.append("Downloading failed:")
        for file_name, error in failures.items():
            lines.append(f"  {file_name}:")
            lines += [f"    {url}: {reason}" for url, reason in error.failures]
    return "\n".join(lines)


def _read_dataset_files(files: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the four files; return the stacked (X, y)."""
    train_images = _read_images(files["train_images"], N_TRAIN)
    train_labels = _read_labels(files["train_labels"], N_TRAIN)
    test_images = _read_images(files["test_images"], N_TEST)
    test_labels = _read_labels(files["test_labels"], N_TEST)
    n_pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
    X = np.concatenate([train_images.reshape(N_TRAIN, n_pixels), test_images.reshape(N_TEST, n_pixels)])
    y = np.concatenate([train_labels, test_labels]).astype(np.int64)
    return X, y


def _read_images(path: Path, expected_count: int) -> np.ndarray:
    """Read an image file; check it holds ``expected_count`` 28x28 uint8 images."""
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise IDXFormatError(
            f"{path}: expected uint8 images of shape (n, 28, 28), got {images.dtype} array of shape {images.shape}"
        )
    if images.shape[0] != expected_count:
        raise IDXFormatError(f"{path}: expected {expected_count} images, got {images.shape[0]}")
    return images


def _read_labels(path: Path, expected_count: int) -> np.ndarray:
    """Read a label file; check it holds ``expected_count`` uint8 labels in 0..9."""
    labels = read_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IDXFormatError(
            f"{path}: expected a 1-D uint8 array of labels, got {labels.dtype} array of shape {labels.shape}"
        )
    if labels.shape[0] != expected_count:
        raise IDXFormatError(f"{path}: expected {expected_count} labels (one per image), got {labels.shape[0]}")
    if labels.size and labels.max() >= N_CLASSES:
        raise IDXFormatError(f"{path}: labels must be in 0..{N_CLASSES - 1}, found {int(labels.max())}")
    return labels

"""Data sets: IDX files, verified downloads, MNIST/Fashion-MNIST loading, the chapter's split."""

from .batches import minibatch_generator
from .download import DownloadError, download_file
from .idx import IDXFormatError, read_idx, write_idx
from .mnist import (
    DATASETS,
    DataNotFoundError,
    DatasetInfo,
    candidate_data_dirs,
    default_cache_dir,
    get_dataset_info,
    load_dataset,
    load_fashion_mnist,
    load_mnist,
    locate_dataset_files,
)
from .split import DataSplit, chapter_split, load_chapter_data, scale_pixels

__all__ = [
    "DATASETS",
    "DataNotFoundError",
    "DataSplit",
    "DatasetInfo",
    "DownloadError",
    "IDXFormatError",
    "candidate_data_dirs",
    "chapter_split",
    "default_cache_dir",
    "download_file",
    "get_dataset_info",
    "load_chapter_data",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "locate_dataset_files",
    "minibatch_generator",
    "read_idx",
    "scale_pixels",
    "write_idx",
]

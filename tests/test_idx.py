"""Tests for reading and writing IDX files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from neuralnet.datasets import IDXFormatError, locate_dataset_files, read_idx, write_idx
from neuralnet.datasets.idx import decode_idx


def idx_bytes(type_code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    """Build the bytes of an IDX file by hand."""
    return bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + data


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "gzip"])
@pytest.mark.parametrize(
    "dtype, shape",
    [
        (np.uint8, (5,)),
        (np.uint8, (3, 28, 28)),
        (np.int8, (4, 3)),
        (np.int16, (2, 3, 4)),
        (np.int32, (7, 1)),
        (np.float32, (3, 2, 2, 2)),
        (np.float64, (6,)),
        (np.uint8, (0, 28, 28)),
    ],
)
def test_round_trip(tmp_path, dtype, shape, compressed):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        array = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    else:
        array = rng.standard_normal(shape).astype(dtype)
    path = tmp_path / ("array.idx.gz" if compressed else "array.idx")
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compressed
    loaded = read_idx(path)
    assert loaded.dtype == np.dtype(dtype)
    assert loaded.dtype.isnative
    assert loaded.shape == shape
    assert loaded.flags.c_contiguous and loaded.flags.writeable
    np.testing.assert_array_equal(loaded, array)


def test_big_endian_data_is_decoded(tmp_path):
    path = tmp_path / "values.idx"
    path.write_bytes(idx_bytes(0x0C, (3,), struct.pack(">3i", 1, -2, 70000)))
    np.testing.assert_array_equal(read_idx(path), [1, -2, 70000])
    path.write_bytes(idx_bytes(0x0D, (2,), struct.pack(">2f", 1.5, -0.25)))
    np.testing.assert_array_equal(read_idx(path), np.array([1.5, -0.25], dtype=np.float32))


def test_gzip_detected_by_magic_not_name(tmp_path):
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    path = tmp_path / "no-extension"
    path.write_bytes(gzip.compress(idx_bytes(0x0B, (3, 4), array.astype(">i2").tobytes())))
    np.testing.assert_array_equal(read_idx(path), array)
    raw_with_gz_name = tmp_path / "plain.gz"
    raw_with_gz_name.write_bytes(idx_bytes(0x0B, (3, 4), array.astype(">i2").tobytes()))
    np.testing.assert_array_equal(read_idx(raw_with_gz_name), array)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "x.idx", np.arange(3, dtype=np.int64))
    with pytest.raises(ValueError, match="0-dimensional"):
        write_idx(tmp_path / "x.idx", np.uint8(3))


def test_real_mnist_files(data_dir):
    files = locate_dataset_files("mnist", data_dir=data_dir)
    with open(files["train_images"], "rb") as raw_file:
        is_gzip = raw_file.read(2) == b"\x1f\x8b"
    with (gzip.open if is_gzip else open)(files["train_images"], "rb") as image_file:
        header = image_file.read(16)
    assert struct.unpack(">4I", header) == (2051, 60000, 28, 28)  # 0x00000803: uint8, 3-D
    images = read_idx(files["train_images"])
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    labels = read_idx(files["train_labels"])
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    test_labels = read_idx(files["test_labels"])
    assert test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert read_idx(files["test_images"]).shape == (10000, 28, 28)


GOOD = idx_bytes(0x08, (2, 3), bytes(range(6)))


@pytest.mark.parametrize(
    "content, problem",
    [
        (b"", "too short"),
        (b"\x00\x00", "too short"),
        (GOOD[:10], "truncated header"),
        (GOOD[:-1], "truncated IDX data"),
        (GOOD + b"\x00\x01", "2 unexpected trailing bytes"),
        (b"\x01\x00" + GOOD[2:], "bad magic number"),
        (b"\x00\x00\x07\x02" + GOOD[4:], "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "number of dimensions is 0"),
        (gzip.compress(GOOD)[:-6], "truncated gzip"),
        (gzip.compress(GOOD)[:12], "truncated gzip"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 30, "corrupt gzip"),
        (gzip.compress(GOOD)[:-8] + b"\x00\x00\x00\x00" + gzip.compress(GOOD)[-4:], "corrupt gzip"),
        (gzip.compress(GOOD[:-1]), "truncated IDX data"),
    ],
    ids=[
        "empty",
        "two-bytes",
        "header",
        "data",
        "trailing",
        "magic",
        "type-code",
        "zero-dims",
        "gzip-truncated-end",
        "gzip-truncated-start",
        "gzip-garbage",
        "gzip-bad-crc",
        "gzip-of-truncated-idx",
    ],
)
def test_bad_files_raise_idx_format_error(tmp_path, content, problem):
    path = tmp_path / "broken-images-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(IDXFormatError) as caught:
        read_idx(path)
    message = str(caught.value)
    assert str(path) in message
    assert problem in message
    assert isinstance(caught.value, ValueError)


def test_error_messages_say_what_was_expected(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(GOOD[:-2])
    expected = r"shape \(2, 3\) of uint8 \(18 bytes in all\), but the file has only 16 bytes"
    with pytest.raises(IDXFormatError, match=expected):
        read_idx(path)


def test_directory_path(tmp_path):
    folder = tmp_path / "a-folder.gz"
    folder.mkdir()
    with pytest.raises(IDXFormatError, match="is a directory") as caught:
        read_idx(folder)
    assert str(folder) in str(caught.value)


def test_missing_path(tmp_path):
    path = tmp_path / "does-not-exist-idx1-ubyte"
    with pytest.raises(FileNotFoundError) as caught:
        read_idx(path)
    assert "does-not-exist-idx1-ubyte" in str(caught.value)


def test_decode_idx_names_source():
    with pytest.raises(IDXFormatError, match="^memory: bad magic"):
        decode_idx(b"\xff\xff\x08\x01\x00\x00\x00\x00", source="memory")
    np.testing.assert_array_equal(decode_idx(GOOD), [[0, 1, 2], [3, 4, 5]])

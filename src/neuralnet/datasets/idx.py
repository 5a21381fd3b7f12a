"""Reading and writing the IDX file format used by MNIST and Fashion-MNIST.

An IDX file is a small header followed by the raw array data::

    byte 0, 1   zero
    byte 2      type code of the elements (see ``IDX_TYPE_CODES``)
    byte 3      number of dimensions, d >= 1
    4 * d       the size of each dimension, big-endian unsigned 32-bit ints
    ...         the elements, big-endian, in C (row-major) order

Files may be gzip-compressed; compression is detected from the gzip magic
bytes ``1f 8b``, not from the file name.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDX_TYPE_CODES", "IDXFormatError", "read_idx", "write_idx"]

GZIP_MAGIC = b"\x1f\x8b"

#: IDX type code -> big-endian NumPy dtype of the stored elements.
IDX_TYPE_CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_MAX_DIM_SIZE = 2**32 - 1
_MAX_NDIM = 255


class IDXFormatError(ValueError):
    """A file is not a valid (optionally gzip-compressed) IDX file."""


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (raw or gzip-compressed) into a native-endian array.

    Parameters
    ----------
    path : str or path
        The file.

    Returns
    -------
    ndarray
        Of the shape and dtype the header gives (e.g. uint8 [60000, 28, 28] for MNIST's images).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IDXFormatError
        Naming the file, for any other problem: a folder instead of a file, an unreadable file,
        corrupt or truncated gzip data, a bad header, or a data length that does not match the
        header.
    """
    path = Path(path)
    content = _read_file_bytes(path)
    if content[:2] == GZIP_MAGIC:
        content = _gunzip(content, path)
    return decode_idx(content, source=path)


def decode_idx(content: bytes, source: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Decode the uncompressed bytes of an IDX file into a new array.

    The array is native-endian, C-contiguous and writeable. ``source`` names
    the origin of the bytes in error messages.
    """
    element_dtype, shape, header_size = _parse_header(content, source)
    count = math.prod(shape)
    expected_size = header_size + count * element_dtype.itemsize
    if len(content) < expected_size:
        raise IDXFormatError(
            f"{source}: truncated IDX data: the header announces shape {shape} of "
            f"{element_dtype.name} ({expected_size} bytes in all), but the file has "
            f"only {len(content)} bytes"
        )
    if len(content) > expected_size:
        raise IDXFormatError(
            f"{source}: {len(content) - expected_size} unexpected trailing bytes: the "
            f"header announces shape {shape} of {element_dtype.name} "
            f"({expected_size} bytes in all), but the file has {len(content)} bytes"
        )
    stored = np.frombuffer(content, dtype=element_dtype, count=count, offset=header_size)
    native_dtype = element_dtype.newbyteorder("=")
    try:
        return stored.astype(native_dtype, copy=True).reshape(shape)
    except ValueError as error:  # e.g. an empty array whose other dimensions overflow memory
        raise IDXFormatError(f"{source}: the header's shape {shape} cannot be an array: {error}") from None


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file; gzip-compress it if ``path`` ends with ``.gz``.

    Parameters
    ----------
    path : str or path
        The file to write.
    array : ndarray of any shape
        Of a dtype with an IDX type code: uint8, int8, int16, int32, float32 or float64.

    Returns
    -------
    Path
        The path written.
    """
    path = Path(path)
    array = np.asarray(array)
    type_code = _type_code_for(array.dtype)
    _check_shape_fits_idx(array.shape)
    header = bytes([0, 0, type_code, array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(IDX_TYPE_CODES[type_code], copy=False).tobytes(order="C")
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def _read_file_bytes(path: Path) -> bytes:
    """Return the whole content of ``path``, turning I/O problems into IDXFormatError."""
    if path.is_dir():
        raise IDXFormatError(f"{path}: is a directory, expected an IDX file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise IDXFormatError(f"{path}: cannot read the file: {exc}") from exc


def _gunzip(compressed: bytes, path: Path) -> bytes:
    """Decompress gzip data read from ``path``, turning gzip errors into IDXFormatError."""
    try:
        return gzip.decompress(compressed)
    except EOFError as exc:
        raise IDXFormatError(
            f"{path}: truncated gzip data ({len(compressed)} bytes); expected a complete gzip-compressed IDX file"
        ) from exc
    except (gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise IDXFormatError(f"{path}: corrupt gzip data ({exc}); expected a valid gzip-compressed IDX file") from exc


#: NumPy arrays have at most 64 dimensions
MAX_DIMENSIONS = 64


def _parse_header(content: bytes, source) -> tuple[np.dtype, tuple[int, ...], int]:
    """Check the IDX header; return (element dtype, shape, header size in bytes)."""
    if len(content) < 4:
        raise IDXFormatError(
            f"{source}: file too short ({len(content)} bytes): expected at least the 4-byte IDX magic number"
        )
    if content[0] != 0 or content[1] != 0:
        raise IDXFormatError(
            f"{source}: bad magic number 0x{content[:4].hex()}: an IDX file must start with two zero bytes"
        )
    type_code, ndim = content[2], content[3]
    if type_code not in IDX_TYPE_CODES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_TYPE_CODES)
        raise IDXFormatError(f"{source}: unknown IDX type code 0x{type_code:02X}; expected one of {known}")
    if ndim < 1:
        raise IDXFormatError(f"{source}: number of dimensions is 0; expected at least 1")
    if ndim > MAX_DIMENSIONS:
        raise IDXFormatError(f"{source}: {ndim} dimensions; expected at most {MAX_DIMENSIONS} (NumPy's limit)")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise IDXFormatError(
            f"{source}: truncated header: {ndim} dimensions need a {header_size}-byte "
            f"header, but the file has only {len(content)} bytes"
        )
    shape = struct.unpack_from(f">{ndim}I", content, 4)
    return IDX_TYPE_CODES[type_code], tuple(shape), header_size


def _type_code_for(dtype: np.dtype) -> int:
    """Return the IDX type code storing elements of ``dtype``."""
    for code, stored_dtype in IDX_TYPE_CODES.items():
        if dtype.kind == stored_dtype.kind and dtype.itemsize == stored_dtype.itemsize:
            return code
    supported = ", ".join(stored.newbyteorder("=").name for stored in IDX_TYPE_CODES.values())
    raise ValueError(f"cannot write dtype {dtype} as IDX; supported dtypes: {supported}")


def _check_shape_fits_idx(shape: tuple[int, ...]) -> None:
    """Raise ValueError if ``shape`` cannot be stored in an IDX header."""
    if not 1 <= len(shape) <= _MAX_NDIM:
        raise ValueError(f"cannot write a {len(shape)}-dimensional array as IDX; expected 1 to {_MAX_NDIM} dimensions")
    if max(shape) > _MAX_DIM_SIZE:
        raise ValueError(f"cannot write shape {shape} as IDX; each dimension must be at most {_MAX_DIM_SIZE}")

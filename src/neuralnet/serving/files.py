"""Files neuralnet writes: atomically, and as safetensors with a JSON header.

* ``atomic_write_bytes``: temporary file in the same folder, fsync, rename, fsync of the
  folder; a reader or a crash sees the old file or the new one, never a mixture, and an
  existing file is replaced only when asked.
* ``safetensors_bytes`` / ``read_safetensors``: raw little-endian arrays plus one JSON document
  under the metadata key ``"neuralnet"``. Reading parses that JSON and the arrays, nothing
  else: no pickle, no code from the file. Model files and checkpoints are both written so.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ModelFileError",
    "DiskFullError",
    "METADATA_KEY",
    "atomic_write_bytes",
    "json_ready",
    "safetensors_bytes",
    "read_safetensors",
    "check_format",
]

METADATA_KEY = "neuralnet"


class ModelFileError(ValueError):
    """A model file that is missing, truncated, corrupted, of an unknown version or shape."""


class DiskFullError(OSError):
    """A file could not be written for lack of space; names the file, the bytes it needed and the
    bytes free. Nothing of it is left behind."""

    def __init__(self, path: Path, needed: int, free: int | None):
        self.path, self.needed, self.free = Path(path), int(needed), free
        shown = f"{free:,} bytes free" if free is not None else "the free space is unknown"
        super().__init__(
            errno.ENOSPC,
            f"no space left on the device to write {self.path} ({self.needed:,} bytes "
            f"needed, {shown}); free some space and try again",
        )

    def __str__(self) -> str:
        assert self.strerror is not None  # __init__ always gives the message
        return self.strerror

    def __reduce__(self):
        return type(self), (self.path, self.needed, self.free)


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _free_bytes(folder: Path) -> int | None:
    import shutil

    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _write_all(handle: int, data: bytes) -> None:
    """Write every byte of ``data`` to the open file ``handle``."""
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view) :]


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX); a no-op where folders cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: new files get the permissions an ordinary open() would give them (0o666 less the umask)
_FILE_MODE = 0o666 & ~_current_umask()


def atomic_write_bytes(path: str | Path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder, fsync, rename.

    A reader (or a crash) sees the old file or the new one, never a mixture. Without
    ``overwrite`` an existing ``path`` is left alone and ``FileExistsError`` is raised; the
    check and the creation are one atomic step (a hard link), so a file that appears
    meanwhile is not replaced either.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a file name to write to")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; refusing to overwrite it (pass overwrite=True to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        if error.errno in _NO_SPACE:
            raise DiskFullError(path, len(data), _free_bytes(path.parent)) from None
        raise
    try:
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(handle, _FILE_MODE)  # mkstemp makes it private (0o600)
            _write_all(handle, data)
            os.fsync(handle)
        finally:
            os.close(handle)
        if overwrite:
            os.replace(temp_name, path)
        else:
            _link_without_replacing(temp_name, path)
    except BaseException as error:
        Path(temp_name).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in _NO_SPACE and not isinstance(error, DiskFullError):
            raise DiskFullError(path, len(data), _free_bytes(path.parent)) from None
        raise
    _fsync_folder(path.parent)
    return path


def _link_without_replacing(temp_name: str, path: Path) -> None:
    """Move ``temp_name`` to ``path`` unless ``path`` exists (atomically where links work)."""
    try:
        os.link(temp_name, path)
    except FileExistsError:
        raise FileExistsError(
            f"{path} already exists; refusing to overwrite it (pass overwrite=True to replace it)"
        ) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        if path.exists():  # no hard links on this file system: check, then rename
            raise FileExistsError(f"{path} already exists; refusing to overwrite it") from None
        os.replace(temp_name, path)
        return
    os.unlink(temp_name)


# --- safetensors with a JSON header ---------------------------------------------------------


def json_ready(value: Any) -> Any:
    """Convert NumPy scalars and arrays inside ``value`` to plain Python for JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def safetensors_bytes(tensors: dict[str, np.ndarray], header: dict) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` and ``header`` (as JSON metadata)."""
    from safetensors.numpy import save

    tensors = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    return save(tensors, metadata={METADATA_KEY: json.dumps(json_ready(header))})


def read_safetensors(path: Path, error: type[ValueError] = ModelFileError) -> tuple[dict[str, np.ndarray], dict]:
    """Read a safetensors file written by ``safetensors_bytes``: (tensors, JSON header).

    The file is read once; safetensors checks its structure (header size, offsets covering
    the data exactly, known dtypes) and the metadata is then taken from the same bytes.
    Any problem raises ``error`` naming the file.
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_tensors

    try:
        content = path.read_bytes()
    except IsADirectoryError:
        raise error(f"{path} is a folder; expected a .safetensors file") from None
    except PermissionError as problem:
        raise error(f"cannot read {path}: {problem.strerror}") from None
    try:
        tensors = load_tensors(content)
        (header_size,) = struct.unpack_from("<Q", content, 0)
        metadata = json.loads(content[8 : 8 + header_size]).get("__metadata__") or {}
    except (SafetensorError, ValueError, struct.error, UnicodeDecodeError, AttributeError) as problem:
        raise error(f"{path} is not a readable safetensors file (truncated or corrupted?): {problem}") from None
    if not isinstance(metadata, dict) or METADATA_KEY not in metadata:
        raise error(f"{path} has no '{METADATA_KEY}' header: it was not written by neuralnet")
    try:
        header = json.loads(metadata[METADATA_KEY])
    except (json.JSONDecodeError, TypeError) as problem:
        raise error(f"{path}: the '{METADATA_KEY}' JSON header is corrupted ({problem})") from None
    if not isinstance(header, dict):
        raise error(f"{path}: the '{METADATA_KEY}' header is {type(header).__name__}, expected a JSON object")
    return tensors, header


def check_format(
    path: Path, header: dict, expected_format: str, versions: tuple[int, ...], error: type[ValueError] = ModelFileError
) -> int:
    """The header's format version; refuses a header of another kind of file or of a version
    this code does not read (``versions``)."""
    if header.get("format") != expected_format:
        raise error(f"{path}: format {header.get('format')!r} is not {expected_format!r}")
    found = header.get("format_version")
    if isinstance(found, bool) or found not in versions:
        readable = " and ".join(map(str, versions))
        raise error(
            f"{path}: format version {found!r} is not supported "
            f"(this neuralnet reads {expected_format} version{'s' * (len(versions) > 1)} {readable})"
        )
    return int(found)

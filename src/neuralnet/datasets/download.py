"""Downloading a file from a list of mirrors, verified by a SHA-256 checksum.

The checksum is that of the *decompressed* content: if the downloaded bytes
are gzip-compressed they are gunzipped on the fly while hashing, because
different gzip tools produce different compressed bytes for the same data.
A file only lands at its destination once its checksum matches.

Every download is bounded: each connection and each read waits at most ``timeout`` seconds,
a mirror that sends less than ``min_rate`` bytes per second (averaged over
``RATE_WINDOW`` seconds) is given up, and all mirrors together get ``deadline`` seconds. The
partial file is removed on every exit the process lives through (an error, Ctrl-C, SIGTERM
once the command line has turned it into an exception), and the ones a killed process left
behind are removed by the next download into the same folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
import zlib
from collections.abc import Iterable
from pathlib import Path

__all__ = ["DownloadError", "download_file"]

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_SIZE = 1 << 16  # read1: whatever has arrived, at most this much, so the checks run often
#: defaults: seconds per connection or read, seconds for all mirrors together, and the slowest
#: transfer kept (bytes per second, averaged over RATE_WINDOW seconds)
TIMEOUT = 15.0
DEADLINE = 600.0
MIN_RATE = 2048.0
RATE_WINDOW = 30.0
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class DownloadError(OSError):
    """No URL gave a complete file with the expected checksum.

    ``failures`` lists ``(url, reason)`` pairs, one per URL tried.
    """

    def __init__(self, destination: Path, failures: list[tuple[str, str]]):
        self.destination = Path(destination)
        self.failures = list(failures)
        lines = [f"could not download {self.destination.name} to {self.destination}:"]
        lines += [f"  {url}: {reason}" for url, reason in self.failures]
        super().__init__("\n".join(lines))

    def __str__(self) -> str:
        return self.args[0]

    def __reduce__(self):
        return type(self), (self.destination, self.failures)


class GzipDataError(ValueError):
    """Downloaded bytes start like gzip but are corrupt or truncated."""


class _AttemptFailed(Exception):
    """One URL did not give a good file; the message says why."""


class DecompressedSHA256:
    """SHA-256 of a byte stream's content, gunzipping it on the fly if it is gzip.

    Feed the bytes with ``update`` in any chunks, then call ``hexdigest``.
    Raises ``GzipDataError`` for corrupt or truncated gzip data.
    """

    def __init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._start = b""
        self._is_gzip: bool | None = None
        self._member: zlib._Decompress | None = None  # decompressor of the current gzip member
        self._in_padding = False
        self.decompressed_size = 0

    def update(self, chunk: bytes) -> None:
        """Feed the next chunk of the (possibly compressed) stream."""
        if self._is_gzip is None:
            self._start += chunk
            if len(self._start) < len(GZIP_MAGIC):
                return
            self._is_gzip = self._start.startswith(GZIP_MAGIC)
            chunk, self._start = self._start, b""
        if self._is_gzip:
            self._feed_gzip(chunk)
        else:
            self._hash(chunk)

    def hexdigest(self) -> str:
        """Return the hex digest of the content; check a gzip stream is complete."""
        if self._is_gzip is None:
            self._hash(self._start)
            self._start = b""
        if self._member is not None:
            raise GzipDataError("truncated gzip data: the stream ends inside a gzip member")
        return self._sha256.hexdigest()

    def _hash(self, content: bytes) -> None:
        self._sha256.update(content)
        self.decompressed_size += len(content)

    def _feed_gzip(self, data: bytes) -> None:
        """Decompress gzip data, member after member, allowing trailing zero padding."""
        while data:
            if self._in_padding:
                if data.strip(b"\0"):
                    raise GzipDataError("corrupt gzip data: non-zero bytes after the last member")
                return
            if self._member is None:
                if data[0] == 0:
                    self._in_padding = True
                    continue
                self._member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            try:
                self._hash(self._member.decompress(data))
            except zlib.error as exc:
                raise GzipDataError(f"corrupt gzip data: {exc}") from exc
            if not self._member.eof:
                return
            data = self._member.unused_data
            self._member = None


def download_file(
    urls: str | Iterable[str],
    destination: str | os.PathLike,
    sha256_decompressed: str,
    timeout: float = TIMEOUT,
    progress: bool = True,
    deadline: float = DEADLINE,
    min_rate: float = MIN_RATE,
    rate_window: float = RATE_WINDOW,
) -> Path:
    """Download ``destination`` from the first of ``urls`` that gives a good file.

    Each URL is streamed into a temporary file in the destination's folder
    while the SHA-256 of its decompressed content is computed; only a file
    with the expected checksum is moved into place (after an fsync). A
    failed attempt deletes its temporary file and the next URL is tried; an
    existing destination file is never replaced by a bad one. ``timeout``
    bounds each connection and read, ``deadline`` all the attempts together,
    and a transfer slower than ``min_rate`` bytes/s over ``rate_window``
    seconds is given up. Raises ``DownloadError`` listing each URL and why it
    failed (or that it was not tried before the deadline) if none worked.
    Returns the destination path.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list:
        raise ValueError(f"no URLs given to download {destination}")
    expected = _normalized_sha256(sha256_decompressed)
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = f"cannot create the folder {destination.parent}: {exc}"
        raise DownloadError(destination, [(url, reason) for url in url_list]) from exc
    _remove_stale_parts(destination)
    limits = _Limits(time.monotonic() + float(deadline), float(deadline), float(min_rate), float(rate_window))
    failures = []
    for url in url_list:
        if limits.remaining() <= 0:
            failures.append((url, f"not tried: the deadline of {deadline:g} s for all mirrors had passed"))
            continue
        try:
            _download_verified(url, destination, expected, min(timeout, limits.remaining()), progress, limits)
            return destination
        except _AttemptFailed as exc:
            failures.append((url, str(exc)))
        except OSError as exc:  # creating, syncing or renaming the local file failed
            failures.append((url, f"cannot write {destination}: {exc}"))
    raise DownloadError(destination, failures)


def _normalized_sha256(checksum: str) -> str:
    """Return ``checksum`` as 64 lower-case hex digits, or raise ValueError."""
    normalized = str(checksum).strip().lower()
    if not _SHA256_HEX.fullmatch(normalized):
        raise ValueError(f"expected a SHA-256 checksum of 64 hex digits, got {checksum!r}")
    return normalized


class _Limits:
    """The bounds of one ``download_file`` call: when it must end, and the slowest rate kept."""

    def __init__(self, ends: float, deadline: float, min_rate: float, window: float):
        self.ends, self.deadline, self.min_rate, self.window = ends, deadline, min_rate, window

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def check(self, started: float, samples: list[tuple[float, int]], received: int) -> None:
        """Raise _AttemptFailed past the deadline, or when the last ``window`` seconds brought
        less than ``min_rate`` bytes per second. ``samples``: (time, bytes so far), oldest first."""
        now = time.monotonic()
        if now > self.ends:
            raise _AttemptFailed(
                f"gave up at the deadline of {self.deadline:g} s for all mirrors "
                f"({received} bytes received in {now - started:.0f} s)"
            )
        samples.append((now, received))
        while len(samples) > 1 and now - samples[1][0] >= self.window:
            samples.pop(0)
        then, before = samples[0]
        if now - then >= self.window and (received - before) / (now - then) < self.min_rate:
            rate = (received - before) / (now - then)
            raise _AttemptFailed(
                f"too slow: {rate:.0f} bytes/s over the last {now - then:.0f} s "
                f"(the minimum is {self.min_rate:g} bytes/s; {received} bytes received)"
            )


def _remove_stale_parts(destination: Path) -> None:
    """Delete the partial files of earlier downloads of ``destination`` that a killed process
    left behind (``.<name>.*.part``)."""
    for stale in destination.parent.glob(f".{destination.name}.*.part"):
        try:
            stale.unlink()
        except OSError:
            pass


def _download_verified(url: str, destination: Path, expected: str, timeout, progress, limits: _Limits) -> None:
    """Download ``url`` to a temporary file and move it to ``destination`` if it checks out."""
    descriptor, temp_name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
    temp_path = Path(temp_name)
    try:
        with os.fdopen(descriptor, "wb") as temp_file:
            actual = _stream_to_file(url, temp_file, destination.name, timeout, progress, limits)
            if actual != expected:
                raise _AttemptFailed(
                    f"checksum mismatch: expected SHA-256 {expected} of the decompressed content, got {actual}"
                )
            temp_file.flush()
            os.fsync(temp_file.fileno())
        _make_world_readable(temp_path)
        os.replace(temp_path, destination)
        _fsync_folder(destination.parent)
    finally:
        temp_path.unlink(missing_ok=True)


def _stream_to_file(url: str, temp_file, label: str, timeout, progress, limits: _Limits) -> str:
    """Write the body of ``url`` to ``temp_file``; return the decompressed SHA-256."""
    import urllib.request  # imported when used: ssl and http are 8 MB of every process

    from tqdm import tqdm

    digest = DecompressedSHA256()
    received = 0
    started = time.monotonic()
    samples: list[tuple[float, int]] = [(started, 0)]
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected_length = _content_length(response)
            with tqdm(
                total=expected_length,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                leave=False,
                disable=None if progress else True,
            ) as bar:
                while chunk := response.read1(CHUNK_SIZE):
                    temp_file.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    limits.check(started, samples, received)
        if expected_length is not None and received != expected_length:
            raise _AttemptFailed(f"incomplete download: received {received} of {expected_length} bytes")
        return digest.hexdigest()
    except _AttemptFailed:
        raise
    except GzipDataError as exc:
        raise _AttemptFailed(f"{exc} (after {received} bytes)") from exc
    except ValueError as exc:
        raise _AttemptFailed(f"invalid URL: {exc}") from exc
    except Exception as exc:
        raise _AttemptFailed(_describe_network_error(exc, timeout)) from exc


def _content_length(response) -> int | None:
    """Return the Content-Length of an HTTP response, or None if unknown."""
    value = response.headers.get("Content-Length")
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _describe_network_error(exc: Exception, timeout) -> str:
    """Say in words why a request failed."""
    import http.client
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP error {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        if isinstance(exc.reason, TimeoutError):
            return f"timed out after {timeout} s"
        return f"cannot connect: {exc.reason}"
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout} s"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP response: {type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    return f"unexpected error: {type(exc).__name__}: {exc}"


def _make_world_readable(path: Path) -> None:
    """Give a finished temporary file the usual 0o644 permissions (mkstemp uses 0o600)."""
    try:
        os.chmod(path, 0o644)
    except OSError:
        pass


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk so a rename survives a crash (POSIX only)."""
    if os.name != "posix":
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)

"""What ``POST /api/predict`` accepts, read into memory and checked, with errors that say what
was expected. The web app turns a ``RequestError`` into an HTTP response with its status.

Three kinds of body:

* ``multipart/form-data`` with a file field (a form's ``<input type=file>``): parsed in memory
  by python-multipart's streaming parser. Starlette's own form parser is not used because it
  spools files larger than 1 MB to a temporary file, and user input must never touch the disk.
* ``image/png`` or ``image/jpeg``: the body is the file.
* ``application/json``: ``{"pixels": [784 numbers]}``, an image already in the MNIST format.
"""

from __future__ import annotations

import json
import logging
import math
from typing import TYPE_CHECKING

import numpy as np
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # defined for type checkers only

__all__ = [
    "RequestError",
    "IMAGE_TYPES",
    "JSON_TYPE",
    "MULTIPART_TYPE",
    "ACCEPTED_TYPES",
    "media_type",
    "read_body",
    "file_from_multipart",
    "pixels_from_json",
]

IMAGE_TYPES = ("image/png", "image/jpeg")
JSON_TYPE = "application/json"
MULTIPART_TYPE = "multipart/form-data"
ACCEPTED_TYPES = (MULTIPART_TYPE, *IMAGE_TYPES, JSON_TYPE)
LOG = logging.getLogger("neuralnet.web")
PIXELS_EXAMPLE = '{"pixels": [784 numbers, row by row, 0 = background to 255 = ink]}'


class RequestError(ValueError):
    """A request that cannot be answered; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, checked against the accepted ones.

    Parameters
    ----------
    content_type : str or None
        The header's value (None: no header); "image/jpg" is read as "image/jpeg".

    Returns
    -------
    str
        One of ``ACCEPTED_TYPES``.

    Raises
    ------
    RequestError
        415, naming what is accepted, for any other media type or a missing header.
    """
    kind = parse_options_header(content_type or "")[0].decode("latin-1")
    if kind == "image/jpg":  # a common misspelling
        kind = "image/jpeg"
    if kind not in ACCEPTED_TYPES:
        shown = f"Content-Type {content_type!r}" if content_type else "a request without a Content-Type"
        raise RequestError(
            415,
            f"{shown} is not accepted: expected {MULTIPART_TYPE} with an image "
            f"file, a raw {' or '.join(IMAGE_TYPES)} body, or {JSON_TYPE} {PIXELS_EXAMPLE}",
        )
    return kind


async def read_body(request, limit: int) -> bytes:
    """The request body, read into memory chunk by chunk.

    (Starlette's ``max_body_size`` does the same but answers an over-declared body with a
    plain-text "Content Too Large" that replaces any other response; the page and API clients
    get JSON ``{"detail": ...}`` for every error.)

    Parameters
    ----------
    request : starlette.requests.Request
        The request.
    limit : int
        The most bytes accepted.

    Returns
    -------
    bytes
        The body.

    Raises
    ------
    RequestError
        413 as soon as the body passes ``limit`` bytes (a Content-Length over the limit is
        refused before anything is read); 400 for a Content-Length that is not a number, or
        a body that ends early (the client disconnected).
    """
    too_large = (
        f"the request body is larger than {limit:,} bytes ({limit / 2**20:g} MB): expected "
        f"an image file or JSON of at most {limit:,} bytes"
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, f"Content-Length {declared!r} is not a number of bytes")
        if int(declared) > limit:
            raise RequestError(413, too_large)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, too_large)
            chunks.append(chunk)
    except ClientDisconnect:
        # the client went away (or sent less than its Content-Length): one line in the log, no
        # traceback; the answer reaches no one but says what happened
        expected = f" of the {declared} its Content-Length announced" if declared is not None else ""
        LOG.warning(
            "a client disconnected after sending %d bytes%s (%s)",
            size,
            expected,
            request.headers.get("content-type", "no Content-Type"),
        )
        raise RequestError(400, f"the request body ended after {size} bytes{expected}") from None
    return b"".join(chunks)


def file_from_multipart(body: bytes, content_type: str | None, field_names=("file", "image")) -> bytes:
    """The bytes of the uploaded file in a multipart/form-data body (already in memory).

    Parameters
    ----------
    body : bytes
        The request body.
    content_type : str or None
        The request's Content-Type header, with the multipart boundary.
    field_names : sequence of str
        The form fields that hold the file, in order of preference.

    Returns
    -------
    bytes
        The file: the part named one of ``field_names``, or else the only part with a
        filename.

    Raises
    ------
    RequestError
        400 for a missing boundary or a malformed or incomplete body; 422 for a form without
        such a file.
    """
    options = parse_options_header(content_type)[1]
    boundary = options.get(b"boundary")
    if not boundary:
        raise RequestError(
            400,
            "the multipart/form-data Content-Type has no boundary: expected a "
            "form upload such as `curl -F file=@digit.png`",
        )
    parts: list[dict] = []
    header_field, header_value = bytearray(), bytearray()
    finished = False

    def on_part_begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        parts[-1]["headers"][bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"].extend(data[start:end])

    def on_end() -> None:
        nonlocal finished
        finished = True

    callbacks: MultipartCallbacks = {
        "on_part_begin": on_part_begin,
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_part_data": on_part_data,
        "on_end": on_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except (FormParserError, ValueError) as error:
        raise RequestError(
            400, f"the multipart/form-data body is malformed ({error}): expected a form upload with one image file"
        ) from None
    if not finished:
        raise RequestError(
            400,
            "the multipart/form-data body is incomplete (no closing boundary): "
            "expected a form upload with one image file",
        )

    named: dict[str, dict] = {}
    with_filename: list[dict] = []
    for part in parts:
        disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))[1]
        name = disposition.get(b"name", b"").decode("latin-1")
        named.setdefault(name, part)
        if b"filename" in disposition:
            with_filename.append(part)
    for name in field_names:
        if name in named:
            return bytes(named[name]["data"])
    if len(with_filename) == 1:
        return bytes(with_filename[0]["data"])
    found = sorted(named) or "none"
    raise RequestError(
        422,
        f"the form has no image file (fields: {found}): expected one file in a "
        f"field named {' or '.join(repr(n) for n in field_names)}",
    )


def pixels_from_json(body: bytes, n_pixels: int = 784) -> np.ndarray:
    """The pixels of a JSON body ``{"pixels": [...]}``, checked value by value.

    Parameters
    ----------
    body : bytes
        The request body.
    n_pixels : int
        The number of pixels expected.

    Returns
    -------
    ndarray of shape [1, n_pixels]
        The pixels, float64, each from 0 (background) to 255 (ink).

    Raises
    ------
    RequestError
        400 for a body that is not valid JSON; 422 for JSON of another shape, or a value that
        is not a number from 0 to 255.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, bad UTF-8, 5000-digit numbers
        raise RequestError(400, f"the body is not valid JSON ({error}): expected {PIXELS_EXAMPLE}") from None
    if not isinstance(document, dict) or "pixels" not in document:
        got = f"an object with keys {sorted(document)}" if isinstance(document, dict) else type(document).__name__
        raise RequestError(422, f"expected a JSON object {PIXELS_EXAMPLE}, got {got}")
    pixels = document["pixels"]
    if not isinstance(pixels, list):
        raise RequestError(422, f'"pixels" must be a list of {n_pixels} numbers, got {type(pixels).__name__}')
    if len(pixels) != n_pixels:
        raise RequestError(422, f'"pixels" has {len(pixels)} values: expected {n_pixels} (a 28 x 28 image, row by row)')
    values = np.empty(n_pixels, dtype=np.float64)
    expected = "expected a number from 0 (background) to 255 (ink)"
    for index, value in enumerate(pixels):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestError(422, f'"pixels"[{index}] is {_show(value)}: {expected}')
        if isinstance(value, float) and not math.isfinite(value):
            raise RequestError(422, f'"pixels"[{index}] is {_show(value)}, not a finite number: {expected}')
        if not 0 <= value <= 255:
            raise RequestError(422, f'"pixels"[{index}] is {_show(value)}, out of range: {expected}')
        values[index] = value
    return values[None, :]


def _show(value, limit: int = 40) -> str:
    """A JSON value as it was sent, shortened for an error message."""
    text = json.dumps(value) if not isinstance(value, int) or abs(value) < 10**limit else "a huge integer"
    return text if len(text) <= limit else text[:limit] + "..."

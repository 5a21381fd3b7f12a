"""The web app: a page to draw digits on, and the JSON API that page uses.

``create_app(run_folder)`` loads a run's model once and serves:

* ``GET /``                      the page (Draw and Model views), from ``static/``
* ``POST /api/predict``          an image (form upload or raw PNG/JPEG) or ``{"pixels": [...]}``
                                 -> ``{"probabilities", "top_class", "label", "image"}``
* ``GET /api/model``             architecture, hyper-parameters, metrics, history, figure URLs
* ``GET /figures/{name}.png``    the run's figures (``neuralnet.runs.FIGURE_FILES``)
* ``GET /api/hidden-units/{k}.png``  hidden unit k's incoming weights as a 28 x 28 image (a network
                                 whose first layer is dense on the 784 pixels)
* ``GET /api/filters/{k}.png``   filter k of the first convolution (a convolutional network)
* ``POST /api/feature-maps``     ``{"pixels": [...]}`` -> what the first convolution makes of the image
* ``GET /docs``                  the OpenAPI documentation

The app holds no mathematics: ``neuralnet.imaging`` makes the 28 x 28 image and
``neuralnet.serving.Predictor`` computes the probabilities. User input stays in memory. The
predictor keeps no state between calls, so requests are answered in parallel.
"""

from __future__ import annotations

import base64
import math
from functools import cache
from pathlib import Path
from typing import Any, cast

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..engine.conv import Conv2D
from ..engine.layers import Dense
from ..engine.specs import describe_spec
from ..runs.folders import FIGURE_FILES, RunFolder
from ..serving.imaging import ImageError, UnreadableImageError, image_to_mnist, render_map, render_weights
from ..serving.predictor import load
from .requests import (
    ACCEPTED_TYPES,
    IMAGE_TYPES,
    JSON_TYPE,
    MULTIPART_TYPE,
    RequestError,
    file_from_multipart,
    media_type,
    pixels_from_json,
    read_body,
)

__all__ = ["create_app", "MAX_UPLOAD_BYTES"]

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # 2 MB: larger request bodies get 413 while being read
STATIC_DIR = Path(__file__).parent / "static"


class Prediction(BaseModel):
    probabilities: list[float] = Field(
        description="one number per class, as Predictor.predict_proba "
        "returns them: softmax probabilities for a cross-entropy network, "
        "the chapter's sigmoid outputs (each in [0, 1]) for an MSE network"
    )
    top_class: int = Field(description="index of the largest probability")
    label: str = Field(description="name of the top class")
    image: list[float] = Field(description="the 28 x 28 image the network saw, row by row, 0 = background to 255 = ink")


class FeatureMaps(BaseModel):
    shape: list[int] = Field(description="[channels, height, width] of the first convolution's output")
    layer: str = Field(description="the layer, e.g. Conv2D(1 -> 32, 3x3, padding 1)")
    maps: list[str] = Field(description="one PNG (a data: URL) per channel")


class ErrorMessage(BaseModel):
    detail: str


PREDICT_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        MULTIPART_TYPE: {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": "a PNG or JPEG picture"}},
            }
        },
        **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_TYPES},
        JSON_TYPE: {
            "schema": {
                "type": "object",
                "required": ["pixels"],
                "properties": {
                    "pixels": {
                        "type": "array",
                        "minItems": 784,
                        "maxItems": 784,
                        "items": {"type": "number", "minimum": 0, "maximum": 255},
                        "description": "a 28 x 28 image row by row, 0 = background to 255 = ink, as in "
                        "the MNIST files; used as it is (not re-centred)",
                    }
                },
            }
        },
    },
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorMessage, "description": text}
    for status, text in {
        400: "a body that cannot be parsed (broken JSON or multipart)",
        413: f"a body larger than {MAX_UPLOAD_BYTES} bytes",
        415: f"a Content-Type other than {', '.join(ACCEPTED_TYPES)}, or a file that is not a PNG/JPEG image",
        422: "an image without ink, JSON of the wrong shape, non-finite or out-of-range pixels",
    }.items()
}


def _finite_or_none(value):
    """JSON has no NaN: replace non-finite floats (e.g. a missing validation loss) by null."""
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite_or_none(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _read_optional(read):
    try:
        return read()
    except (FileNotFoundError, ValueError):
        return None


def create_app(run_folder: str | Path, *, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> FastAPI:
    """A FastAPI app serving the model and figures of a run.

    The run's model is loaded once; ``app.state.predictor`` and ``app.state.run`` hold the
    ``Predictor`` and the ``RunFolder``.

    Parameters
    ----------
    run_folder : str or Path
        A run folder written by ``neuralnet train``, whose model takes 28 x 28 images (784
        inputs).
    max_upload_bytes : int
        The largest request body accepted (larger ones get 413).

    Returns
    -------
    FastAPI
        The app.

    Raises
    ------
    FileNotFoundError
        If ``run_folder`` is not a training run's folder.
    RunFolderError
        For a damaged ``config.json``.
    ValueError
        For a model that does not take 784 inputs.
    """
    run = RunFolder(run_folder).require()
    info = run.info()  # a damaged config.json stops the app here, with the reason, not at the first request
    predictor = load(run.path)
    if predictor.network.n_features != 784:
        raise ValueError(
            f"the model in {run.path} takes {predictor.network.n_features} inputs, but the "
            "web app serves models of 28 x 28 images (784 inputs)"
        )
    header = predictor.header
    first = next((layer for layer in predictor.network.layers if layer.parameters()), None)
    # a dense first layer on the pixels: its units' weights [n_hidden, 784] are images
    first_weights = first.weight if isinstance(first, Dense) and first.n_in == 784 else np.zeros((0, 784))
    n_hidden_units = first_weights.shape[0]
    convolution = predictor.first_convolution()
    # first_convolution is the index of a Conv2D layer
    first_conv = cast(Conv2D, predictor.network.layers[convolution]) if convolution is not None else None
    filters = first_conv.weight.mean(axis=1) if first_conv is not None else None
    labels = [str(c) for c in predictor.classes]

    # FastAPIOffline: FastAPI, with Swagger UI's and ReDoc's files served from the package
    # instead of a CDN, so that /docs works without a network
    app = FastAPIOffline(
        title="neuralnet",
        version=__version__,
        description="Draw a digit and watch the network answer. The page at / uses this JSON API: "
        "`POST /api/predict` and `GET /api/model`.",
    )

    # -- errors: always {"detail": "..."} with a message saying what was expected ------------------
    @app.exception_handler(RequestError)
    async def request_error(request: Request, error: RequestError):
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError):
        messages = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        return JSONResponse({"detail": messages}, status_code=422)

    # -- the page ---------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return RedirectResponse("/static/favicon.svg")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # -- the API ----------------------------------------------------------------------------------
    def predict_pixels(pixels):
        return predictor.predict_proba(pixels)[0]

    def prediction(image, probabilities) -> dict:
        top = int(probabilities.argmax())
        return {
            "probabilities": [float(p) for p in probabilities],
            "top_class": top,
            "label": labels[top],
            "image": image.ravel().tolist(),
        }

    def predict_image(data: bytes) -> dict:
        try:
            image = image_to_mnist(data)
        except ImageError as error:
            status = 415 if isinstance(error, UnreadableImageError) else 422  # not PNG/JPEG; blank or huge
            raise RequestError(status, str(error)) from None
        return prediction(image, predict_pixels(image.reshape(1, -1)))

    def answer(kind: str, content_type: str | None, body: bytes) -> dict:
        if kind == JSON_TYPE:
            pixels = pixels_from_json(body, predictor.network.n_features)
            return prediction(pixels, predict_pixels(pixels))
        if kind == MULTIPART_TYPE:
            body = file_from_multipart(body, content_type)
        return predict_image(body)

    @app.post(
        "/api/predict",
        response_model=Prediction,
        summary="Classify an image of a digit",
        responses=ERRORS,
        openapi_extra={"requestBody": PREDICT_BODY},
    )
    async def predict(request: Request):
        """Send a picture (a form upload in the field `file`, or a raw `image/png` / `image/jpeg`
        body): it is cropped to its ink, scaled to 20 pixels and centred by centre of mass in
        28 x 28, as MNIST was made (dark ink on a light ground is inverted). Or send
        `{"pixels": [784 numbers]}`, an image already in the MNIST format. Bodies over 2 MB are
        refused with 413."""
        content_type = request.headers.get("content-type")
        kind = media_type(content_type)
        body = await read_body(request, max_upload_bytes)  # in memory; 413 past the limit
        return await run_in_threadpool(answer, kind, content_type, body)  # off the event loop

    @app.get("/api/model", summary="The model: architecture, hyper-parameters, metrics, history")
    def model_info():
        metrics = _read_optional(run.metrics) or dict(header.get("metrics", {}))
        history = _read_optional(run.history)
        architecture = header["architecture"]
        # units per layer: the inputs, then each dense layer's outputs (784 -> 50 -> 10)
        layers = [
            predictor.network.n_features,
            *(spec["n_out"] for spec in architecture["layers"] if spec["type"] == "Dense"),
        ]
        return _finite_or_none(
            {
                "run": run.path.name,
                "architecture": architecture,
                "layers": layers,
                "classes": labels,
                "training": header.get("training", {}),
                "data": info.sizes,
                "preprocessing": header.get("preprocessing"),
                "metrics": metrics,
                "history": history.rows if history is not None else [],
                "figures": {
                    name: f"/figures/{name}.png" for name, path in FIGURE_FILES.items() if run.file(path).is_file()
                },
                "hidden_units": {"count": n_hidden_units, "url": "/api/hidden-units/{k}.png"},
                "filters": {
                    "count": 0 if filters is None else len(filters),
                    "url": "/api/filters/{k}.png",
                    "size": None if filters is None else list(filters.shape[1:]),
                },
            }
        )

    @app.get(
        "/figures/{name}.png",
        summary="A figure of the run",
        response_class=FileResponse,
        responses={404: {"model": ErrorMessage}},
    )
    def figure(name: str):
        path = run.file(FIGURE_FILES[name]) if name in FIGURE_FILES else None
        if path is None or not path.is_file():
            known = sorted(n for n, p in FIGURE_FILES.items() if run.file(p).is_file())
            raise StarletteHTTPException(404, f"no figure {name!r} in run {run.path.name}: expected one of {known}")
        return FileResponse(path, media_type="image/png")

    @cache
    def hidden_unit_png(k: int) -> bytes:
        return render_weights(first_weights[k])

    @app.get(
        "/api/hidden-units/{k}.png",
        summary="Hidden unit k's incoming weights as a 28 x 28 image",
        response_class=Response,
        responses={404: {"model": ErrorMessage}},
    )
    def hidden_unit(k: int):
        if not 0 <= k < n_hidden_units:
            raise StarletteHTTPException(
                404,
                f"hidden unit {k} does not exist: expected 0 to "
                f"{n_hidden_units - 1} (the first hidden layer has "
                f"{n_hidden_units} units on 28 x 28 inputs)",
            )
        return Response(hidden_unit_png(k), media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @cache
    def filter_png(k: int) -> bytes:
        assert filters is not None  # filter_image asks only for the filters that exist
        return render_weights(filters[k], scale=max(1, 28 // filters.shape[1]))

    @app.get(
        "/api/filters/{k}.png",
        summary="Filter k of the first convolution (the mean over its input channels)",
        response_class=Response,
        responses={404: {"model": ErrorMessage}},
    )
    def filter_image(k: int):
        count = 0 if filters is None else len(filters)
        if not 0 <= k < count:
            raise StarletteHTTPException(
                404,
                f"filter {k} does not exist: expected 0 to {count - 1}"
                if count
                else "this network has no convolution, so no filters",
            )
        return Response(filter_png(k), media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.post(
        "/api/feature-maps",
        response_model=FeatureMaps,
        responses=ERRORS,
        summary="What the first convolution makes of a 28 x 28 image",
        openapi_extra={"requestBody": {"required": True, "content": {JSON_TYPE: PREDICT_BODY["content"][JSON_TYPE]}}},
    )
    async def feature_maps(request: Request):
        """Send `{"pixels": [784 numbers]}` (the `image` a prediction answers with): the answer is
        the first convolution's output for it (after its activation), one PNG per channel, dark for
        the channel's smallest value and bright for its largest."""
        if filters is None or convolution is None:  # together: filters are the convolution's
            raise RequestError(404, "this network has no convolution, so no feature maps")
        kind = media_type(request.headers.get("content-type"))
        if kind != JSON_TYPE:
            raise RequestError(415, f'expected {JSON_TYPE} {{"pixels": [784 numbers]}}')
        body = await read_body(request, max_upload_bytes)

        def answer():
            maps = predictor.feature_maps(pixels_from_json(body, predictor.network.n_features))[0]
            scale = max(1, 56 // maps.shape[1])
            return {
                "shape": list(maps.shape),
                "layer": describe_spec(predictor.network.layers[convolution].config()),
                "maps": [
                    "data:image/png;base64," + base64.b64encode(render_map(m, scale=scale)).decode() for m in maps
                ],
            }

        return await run_in_threadpool(answer)

    app.state.predictor = predictor
    app.state.run = run
    return app

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
import contextlib
import threading
from functools import cache
from pathlib import Path
from typing import Any, cast

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..engine.conv import Conv2D
from ..engine.layers import Dense
from ..engine.specs import describe_spec
from ..explain import walk_through
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
from .training import TrainingManager, add_training_routes, json_ready

__all__ = ["create_app", "MAX_UPLOAD_BYTES"]

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # 2 MB: larger request bodies get 413 while being read
DECODERS = 2  # pictures decoded at the same time (the others wait their turn)
MAX_REQUESTS_IN_FLIGHT = 32  # predictions read, waiting or computed at once; more get 503
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
        422: "an image without ink or too large (over 4096 x 4096 pixels), JSON of the wrong shape, non-finite "
        "or out-of-range pixels",
        503: f"more than {MAX_REQUESTS_IN_FLIGHT} predictions in flight at once: try again",
    }.items()
}


def _read_optional(read):
    try:
        return read()
    except (FileNotFoundError, ValueError):
        return None


def create_app(
    run_folder: str | Path,
    *,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    train_out: str | Path | None = None,
    data_dir: str | Path | None = None,
    max_trainings: int = 1,
) -> FastAPI:
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
    train_out : str or Path or None
        Where the trainings started from the page write their run folders (default: the folder
        that holds ``run_folder``, e.g. ``runs/``).
    data_dir : str or Path or None
        Where those trainings find MNIST and Fashion-MNIST (as ``--data-dir``).
    max_trainings : int
        Trainings that may run at the same time (one more is refused with 409).

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
    dense_index = predictor.first_dense()
    first = predictor.network.layers[dense_index] if dense_index is not None else None
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
    manager = TrainingManager(train_out if train_out is not None else run.path.parent, data_dir, max_trainings)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        manager.shutdown()  # no training process outlives the server (their runs stay resumable)

    app = FastAPIOffline(
        title="neuralnet",
        version=__version__,
        docs_url=None,  # /docs is below, with a way back to the page
        lifespan=lifespan,
        description="Draw a digit and watch the network answer, train a network and watch it learn, step "
        "through backpropagation. The page at / uses this JSON API: `POST /api/predict` and `GET /api/model` "
        "(Draw and Model views), `POST /api/trainings` and `GET /api/trainings/{id}/events` (Train view), "
        "`GET /api/explain` (Backprop view).",
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
    # bounds on the work of the pictures sent: at most DECODERS decoded at once (each costs its
    # decoded size, up to 67 MB for 4096 x 4096 RGBA), at most MAX_REQUESTS_IN_FLIGHT read or waiting
    decoding = threading.BoundedSemaphore(DECODERS)
    waiting = threading.BoundedSemaphore(MAX_REQUESTS_IN_FLIGHT)

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
            with decoding:  # a few pictures decoded at a time: their memory is bounded
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
        if not waiting.acquire(blocking=False):  # the queue of requests in flight is full: busy
            raise RequestError(503, f"the server is answering {MAX_REQUESTS_IN_FLIGHT} pictures already; try again")
        try:
            body = await read_body(request, max_upload_bytes)  # in memory; 413 past the limit
            return await run_in_threadpool(answer, kind, content_type, body)  # off the event loop
        finally:
            waiting.release()

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
        return json_ready(
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

    # -- the Draw view's hidden layer: which units fire for the drawing ------------------------------
    class HiddenActivations(BaseModel):
        layer: str = Field(description="the layer, e.g. Dense(784 -> 50) and its activation")
        activations: list[float] = Field(description="one number per hidden unit, in the order of /api/hidden-units")
        low: float = Field(description="the smallest value the activation can take (0 for sigmoid and ReLU, -1 tanh)")

    @app.post(
        "/api/hidden-activations",
        response_model=HiddenActivations,
        summary="The first hidden layer's activations for a 28 x 28 image",
        responses=ERRORS,
    )
    async def hidden_activations(request: Request):
        """Send `{"pixels": [784 numbers]}` (the `image` a prediction answers with): the answer is
        each unit of the first dense layer, after its activation, for that image (the units whose
        incoming weights /api/hidden-units/{k}.png shows)."""
        index = predictor.first_dense()
        if index is None:
            raise RequestError(404, "this network's first layer is not dense on the pixels, so no hidden units")
        kind = media_type(request.headers.get("content-type"))
        if kind != JSON_TYPE:
            raise RequestError(415, f'expected {JSON_TYPE} {{"pixels": [784 numbers]}}')
        body = await read_body(request, max_upload_bytes)

        def answer():
            values = predictor.hidden_activations(pixels_from_json(body, predictor.network.n_features))[0]
            layers = predictor.network.layers
            after = layers[index + 1].config() if index + 1 < len(layers) else None
            name = describe_spec(layers[index].config()) + (
                f" + {after['name']}" if after and after["type"] == "Activation" else ""
            )
            low = (
                -1.0
                if after and after.get("name") == "tanh"
                else 0.0
                if after and after.get("name") in ("sigmoid", "relu")
                else float(values.min())
            )
            return {"layer": name, "activations": [float(v) for v in values], "low": low}

        return await run_in_threadpool(answer)

    # -- the Backprop view: one training step of the chapter's small network, every number -----------
    @app.get("/api/explain", summary="Every number of one training step (neuralnet explain --json)")
    def explain(
        activation: str = "sigmoid", loss: str = "mse", seed: int = Query(123, ge=0, le=2**32 - 1), hidden: int = 3
    ) -> dict:
        """The walk-through of one SGD step of the 2-``hidden``-2 network of the chapter's Figure
        11.11: the same JSON as ``neuralnet explain --json`` with these options."""
        if not 1 <= hidden <= 8:
            raise RequestError(422, f"hidden must be from 1 to 8 units (the graph shows each), got {hidden}")
        try:
            return walk_through(hidden, activation=activation, loss=loss, seed=seed).to_dict()
        except ValueError as error:
            raise RequestError(422, str(error)) from None

    # -- the trainings of the Train view ----------------------------------------------------------------
    add_training_routes(app, manager)

    # -- the API documentation, with a way back ---------------------------------------------------------
    @app.get("/docs", include_in_schema=False)
    def docs():
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="neuralnet - API",
            swagger_js_url="/static-offline-docs/swagger-ui-bundle.js",
            swagger_css_url="/static-offline-docs/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
        back = (
            '<p style="font-family: system-ui, sans-serif; margin: 0.8rem 1.2rem;">'
            '<a href="/">&larr; back to the neuralnet page</a></p>'
        )
        return HTMLResponse(bytes(page.body).decode().replace("<body>", "<body>" + back, 1))

    app.state.predictor = predictor
    app.state.run = run
    app.state.trainings = manager
    return app

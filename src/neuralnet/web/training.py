"""Training from the browser: runs started, watched, stopped and resumed by the web app.

Each training is an ordinary run (``runs.experiment.train_run``, or ``resume_run`` to go on after
a stop) in a run folder under the server's training folder, trained in a process of its own so
that the server keeps answering. The child reports what happens as events through a bounded
queue; a thread of the server collects them, and the page reads them as server-sent events::

    started   {"run", "epochs", "settings"}                  the run folder exists, training begins
    points    {"X", "y", "grid": {"x", "y"}, "classes"}     2-feature data: the points and the grid
    batch     {"epoch", "batch", "batches", "loss"}           every few mini-batches (at most 5 a second)
    epoch     {"epoch", "lr", "train_loss", "valid_acc", ...}  a history row
    boundary  {"epoch", "classes"}                            the class predicted on the grid (2-D data)
    weights   {"epoch", "units": [PNG data URLs]}              the first dense layer's units on images
    done      {"run", "metrics"}                               finished: the run folder is complete
    stopped   {"run", "epoch"}                                 stopped by the user: resumable
    error     {"detail"}                                       refused or failed

A stopped training is a run folder with the checkpoint of its last finished epoch; ``resume``
trains it on in a new process, bit for bit as if it had not stopped.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import multiprocessing
import os
import queue as queues
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Body, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from ..runs.config import ConfigError, TrainingConfig
from ..training.callbacks import Callback

__all__ = ["TrainingManager", "TrainingRefused", "Training", "EVENT_KINDS", "WEB_DEFAULTS", "json_ready"]

EVENT_KINDS = ("started", "points", "batch", "epoch", "boundary", "weights", "done", "stopped", "error")
FINAL_KINDS = ("done", "stopped", "error")
#: what a training from the page gets unless it says otherwise: quick on two cores
WEB_DEFAULTS = {"epochs": 10}
GRID_STEPS = 60  # the decision boundary's grid: 60 x 60 points
MAX_UNITS = 16  # hidden units whose weight images are sent per epoch
BATCH_EVENTS_PER_SECOND = 5
QUEUE_SIZE = 256  # events in flight from a child; batch events are dropped when it is full
MAX_BATCH_EVENTS = 2000  # batch events kept per training (the oldest are dropped; rows are kept)


class TrainingRefused(ValueError):
    """A training that cannot start or go on: ``status`` is the HTTP status that says why
    (404 unknown, 409 busy or in the wrong state, 422 invalid settings)."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass
class Training:
    """One training the server started: its settings, its process, its events."""

    id: int
    settings: dict
    state: str = "starting"  # starting, running, done, stopped, failed
    run: str | None = None
    process: Any = None
    events: list[dict] = field(default_factory=list)
    counter: itertools.count = field(default_factory=itertools.count)
    condition: threading.Condition = field(default_factory=threading.Condition)

    def summary(self) -> dict:
        """What the API says of the training."""
        return {"id": self.id, "state": self.state, "run": self.run, "settings": self.settings}


class TrainingManager:
    """The trainings of one server: at most ``max_trainings`` at a time, run folders under ``out``.

    Parameters
    ----------
    out : str or Path
        Where the run folders go (as ``neuralnet train --out``).
    data_dir : str or Path, optional
        Where the data sets are (as ``--data-dir``).
    max_trainings : int, default 1
        Trainings that may run at the same time; one more is refused with 409.
    """

    def __init__(self, out: str | Path = "runs", data_dir=None, max_trainings: int = 1):
        if isinstance(max_trainings, bool) or not isinstance(max_trainings, int) or max_trainings < 1:
            raise ValueError(f"max_trainings must be a positive integer, got {max_trainings!r}")
        self.out, self.data_dir, self.max_trainings = Path(out), data_dir, max_trainings
        self._trainings: dict[int, Training] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._context = multiprocessing.get_context("spawn")  # no copy of the server's threads

    # -- starting, stopping, resuming ------------------------------------------------------------
    def start(self, settings: dict) -> Training:
        """Check ``settings`` (configuration keys) and start training them; ``TrainingRefused``
        names what is wrong or that the server is busy."""
        if not isinstance(settings, dict):
            raise TrainingRefused(f'expected an object of settings, e.g. {{"dataset": "moons"}}, got {settings!r}')
        try:
            config = TrainingConfig.from_dict({**WEB_DEFAULTS, **settings})
        except (ConfigError, TypeError) as error:
            raise TrainingRefused(str(error)) from None
        with self._lock:
            self._check_capacity()
            training = Training(next(self._ids), config.to_dict())
            self._trainings[training.id] = training
            self._launch(training, resume=None)
        return training

    def stop(self, training_id: int) -> Training:
        """Stop a running training after the mini-batch under way (SIGINT: the run keeps the
        checkpoint of its last finished epoch, and can be resumed)."""
        training = self.get(training_id)
        if training.state not in ("starting", "running") or training.process is None:
            raise TrainingRefused(f"training {training_id} is {training.state}, not running", 409)
        if training.process.pid is not None and training.process.is_alive():
            os.kill(training.process.pid, signal.SIGINT)
        return training

    def resume(self, training_id: int) -> Training:
        """Train a stopped training on from its checkpoint, in a new process."""
        training = self.get(training_id)
        if training.state != "stopped" or training.run is None:
            raise TrainingRefused(f"training {training_id} is {training.state}; only a stopped one resumes", 409)
        with self._lock:
            self._check_capacity()
            training.state = "starting"
            self._launch(training, resume=training.run)
        return training

    def get(self, training_id: int) -> Training:
        """The training of that id (``TrainingRefused`` with 404 if there is none)."""
        try:
            return self._trainings[int(training_id)]
        except (KeyError, ValueError, TypeError):
            raise TrainingRefused(f"there is no training {training_id!r}", 404) from None

    def trainings(self) -> list[Training]:
        """Every training of this server, oldest first."""
        return list(self._trainings.values())

    def running(self) -> int:
        """How many trainings run now."""
        return sum(t.state in ("starting", "running") for t in self._trainings.values())

    def _check_capacity(self) -> None:
        if self.running() >= self.max_trainings:
            raise TrainingRefused(
                f"{self.running()} training{'s' * (self.running() != 1)} running already, the most this server "
                f"allows (start it with --max-trainings N for more)",
                409,
            )

    def _launch(self, training: Training, resume: str | None) -> None:
        events = self._context.Queue(QUEUE_SIZE)
        out = str(self.out.resolve())
        data_dir = None if self.data_dir is None else str(Path(self.data_dir).resolve())
        process = self._context.Process(
            target=train_in_child, args=(training.settings, data_dir, out, resume, events), daemon=True
        )
        process.start()
        training.process = process
        threading.Thread(target=self._collect, args=(training, process, events), daemon=True).start()

    # -- the events ------------------------------------------------------------------------------
    def _collect(self, training: Training, process, events) -> None:
        """Move the child's events into ``training.events`` until the child has gone."""
        final = False
        while not final:
            try:
                kind, data = events.get(timeout=0.5)
            except queues.Empty:
                if not process.is_alive():
                    break
                continue
            self._add(training, kind, data)
            final = kind in FINAL_KINDS
        process.join(timeout=30)
        if not final:  # killed, or crashed without a word
            self._add(training, "error", {"detail": f"the training process ended with exit code {process.exitcode}"})
        events.close()

    def _add(self, training: Training, kind: str, data: dict) -> None:
        with training.condition:
            if kind == "started":
                training.state, training.run = "running", data.get("run")
            elif kind == "done":
                training.state = "done"
            elif kind == "stopped":
                training.state, training.run = "stopped", data.get("run") or training.run
            elif kind == "error":
                training.state = "failed"
            training.events.append({"id": next(training.counter), "event": kind, "data": data})
            if kind == "batch":
                batches = [i for i, e in enumerate(training.events) if e["event"] == "batch"]
                if len(batches) > MAX_BATCH_EVENTS:
                    del training.events[batches[0]]
            training.condition.notify_all()

    def events_after(self, training_id: int, after: int = -1, timeout: float = 15.0) -> list[dict]:
        """The events with an id above ``after``, waiting up to ``timeout`` seconds for one."""
        training = self.get(training_id)
        deadline = time.monotonic() + timeout
        with training.condition:
            while True:
                new = [event for event in training.events if event["id"] > after]
                left = deadline - time.monotonic()
                if new or left <= 0:
                    return new
                training.condition.wait(left)

    def shutdown(self) -> None:
        """Stop every child process (the server is going away); their runs stay resumable."""
        for training in self._trainings.values():
            process = training.process
            if process is not None and process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        for training in self._trainings.values():
            process = training.process
            if process is not None:
                process.join(timeout=10)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=5)


# --- in the child process ---------------------------------------------------------------------


def train_in_child(settings: dict, data_dir, out: str, resume: str | None, events) -> None:
    """Train (or resume) one run and report it through ``events``; the child's whole life."""
    from ..runs.experiment import TrainingInterrupted, resume_run, train_run

    reporter = EventReporter(events, settings)
    try:
        config = TrainingConfig.from_dict(settings)
        if resume is None:
            reporter.send_points(config, data_dir)
            result = train_run(config, data_dir, out, log=None, progress=False, callbacks=[reporter], download=False)
        else:
            result = resume_run(resume, data_dir, log=None, progress=False, callbacks=[reporter], download=False)
        metrics = {k: v for k, v in result.metrics.items() if k != "confusion_matrix"}
        reporter.send("done", {"run": str(result.path), "metrics": json_ready(metrics)}, wait=True)
    except TrainingInterrupted as stop:
        reporter.send("stopped", {"run": str(stop.path), "epoch": stop.epoch}, wait=True)
    except KeyboardInterrupt:  # before the run folder existed
        reporter.send("error", {"detail": "stopped before the first epoch; start again"}, wait=True)
    except Exception as error:  # reported to the page, which shows it
        reporter.send("error", {"detail": f"{type(error).__name__}: {error}"}, wait=True)


class EventReporter(Callback):
    """The training callback of a child: every few mini-batches, every history row, the
    decision boundary of 2-feature data and the first layer's weight images, as events.

    ``run_folder`` is set by the run before training starts.
    """

    def __init__(self, events, settings: dict):
        self.events, self.settings = events, settings
        self.run_folder: Path | None = None
        self.grid: np.ndarray | None = None
        self._network = None
        self._last_batch_event = 0.0

    def send(self, kind: str, data: dict, wait: bool = False) -> None:
        """Put one event in the queue; a batch event is dropped when the queue is full."""
        try:
            if wait:
                self.events.put((kind, data), timeout=30)
            else:
                self.events.put_nowait((kind, data))
        except queues.Full:
            pass

    def send_points(self, config: TrainingConfig, data_dir) -> None:
        """For 2-feature data: the training points and the grid of the decision boundary."""
        from ..runs.data import load_data

        if config.data is None and config.dataset in ("mnist", "fashion-mnist"):
            return
        data = load_data(config, data_dir, download=False)
        if data.X_train.ndim != 2 or data.X_train.shape[1] != 2:
            return
        X, y = data.X_train, data.y_train
        low, high = X.min(axis=0), X.max(axis=0)
        margin = 0.1 * (high - low)
        xs = np.linspace(low[0] - margin[0], high[0] + margin[0], GRID_STEPS)
        ys = np.linspace(low[1] - margin[1], high[1] + margin[1], GRID_STEPS)
        gx, gy = np.meshgrid(xs, ys)
        self.grid = np.column_stack([gx.ravel(), gy.ravel()]).astype(X.dtype)
        shown = np.random.default_rng(0).permutation(len(y))[:1000]  # enough to see the problem
        self.send(
            "points",
            {
                "X": np.round(X[shown], 4).tolist(),
                "y": y[shown].tolist(),
                "grid": {"x": xs.tolist(), "y": ys.tolist()},
                "classes": [str(c) for c in data.class_names or ()],
            },
            wait=True,
        )

    def on_train_begin(self, trainer) -> None:
        """The run has its folder: say so, with the epochs to train."""
        self.send(
            "started",
            {"run": str(self.run_folder), "epochs": self.settings.get("epochs"), "settings": self.settings},
            wait=True,
        )

    def poll(self, trainer) -> None:
        """Every few mini-batches: where the epoch is and the latest mini-batch's loss."""
        progress: tuple | None = getattr(trainer, "progress", None)
        now = time.monotonic()
        if progress is None or now - self._last_batch_event < 1 / BATCH_EVENTS_PER_SECOND:
            return
        self._last_batch_event = now
        epoch, batch, batches, loss = progress
        self.send("batch", {"epoch": epoch, "batch": batch, "batches": batches, "loss": json_ready(loss)})

    def on_epoch_end(self, trainer, row: dict) -> bool:
        """The history row, and what the network makes of the grid or its first layer now."""
        self.send("epoch", json_ready(dict(row)), wait=True)
        if self._network is None:
            self._network = trainer.network.clone()
        network = self._network
        assert network is not None and trainer.snapshot is not None  # the row's state
        network.load_flat_values(trainer.snapshot.weights)  # the weights the row describes
        if self.grid is not None:
            classes = network.predict(self.grid).astype(int).tolist()
            self.send("boundary", {"epoch": row["epoch"], "classes": classes}, wait=True)
        units = first_layer_units(network)
        if units is not None:
            from ..serving.imaging import render_weights

            urls = [
                "data:image/png;base64," + base64.b64encode(render_weights(unit, scale=2)).decode("ascii")
                for unit in units[:MAX_UNITS]
            ]
            self.send("weights", {"epoch": row["epoch"], "units": urls}, wait=True)
        return False


def first_layer_units(network) -> np.ndarray | None:
    """The incoming weights of the first dense layer's units, when it takes square images'
    pixels (e.g. 784 = 28 x 28); None otherwise."""
    from ..serving.predictor import first_dense_index

    index = first_dense_index(network)
    if index is None:
        return None
    weight = network.layers[index].weight
    side = int(round(math.sqrt(weight.shape[1])))
    return weight if side * side == weight.shape[1] and side >= 8 else None


def json_ready(value):
    """JSON has no NaN: NumPy numbers and arrays as Python's, NaN and infinities (e.g. a missing
    validation loss) as None, tuples as lists, through dicts and lists."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    return value


# --- the HTTP API ------------------------------------------------------------------------------


def add_training_routes(app, manager: TrainingManager) -> None:
    """The trainings' endpoints on ``app``: start, list, look at, stream, stop, resume."""

    @app.exception_handler(TrainingRefused)
    async def refused(request: Request, error: TrainingRefused):
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    settings_body = Body(
        ...,
        description="configuration keys, as in a TOML file: dataset, hidden or layers, activation, loss, "
        "optimizer, lr, epochs, batch_size, limit, samples, noise, seed, ...",
        examples=[{"dataset": "moons", "hidden": [16, 16], "activation": "tanh", "epochs": 30}],
    )

    @app.post("/api/trainings", status_code=201, summary="Start training a run (the page's Train view)")
    def start_training(settings: dict = settings_body) -> dict:
        """Check the settings and start the training in a process of its own: its id and state."""
        return manager.start(settings).summary()

    @app.get("/api/trainings", summary="The trainings this server started")
    def list_trainings() -> list:
        """Every training of this server with its state and run folder."""
        return [training.summary() for training in manager.trainings()]

    @app.get("/api/trainings/{training_id}", summary="One training's state and run folder")
    def get_training(training_id: int) -> dict:
        """The training's id, state (starting, running, done, stopped, failed), run and settings."""
        return manager.get(training_id).summary()

    @app.get("/api/trainings/{training_id}/log", summary="The events so far, as a JSON list")
    def training_log(training_id: int, after: int = -1) -> list:
        """The training's events with an id above ``after`` (all by default), without waiting."""
        return manager.events_after(training_id, after, timeout=0)

    @app.get(
        "/api/trainings/{training_id}/events",
        summary="The training's events as server-sent events (text/event-stream)",
        response_class=StreamingResponse,
    )
    async def training_events(training_id: int, request: Request, after: int = -1):
        """Every event after ``after`` (or the ``Last-Event-ID`` of a reconnecting browser), then
        the new ones as they come, until the final one (done, stopped, failed). An error event
        is named "failed" (EventSource keeps "error" for its own)."""
        manager.get(training_id)  # 404 before the stream starts
        last = request.headers.get("last-event-id")
        start = int(last) if last and last.lstrip("-").isdigit() else after

        async def stream():
            seen = start
            while True:
                events = await run_in_threadpool(manager.events_after, training_id, seen, 10.0)
                if not events:
                    yield ": still training\n\n"  # keeps proxies and the browser from timing out
                    continue
                for event in events:
                    seen = event["id"]
                    name = "failed" if event["event"] == "error" else event["event"]
                    yield f"id: {event['id']}\nevent: {name}\ndata: {json.dumps(event['data'])}\n\n"
                if events[-1]["event"] in FINAL_KINDS:
                    return

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/api/trainings/{training_id}/stop", summary="Stop a training after its mini-batch under way")
    def stop_training(training_id: int) -> dict:
        """Stop the training; its run keeps the checkpoint of the last finished epoch (resumable)."""
        return manager.stop(training_id).summary()

    @app.post("/api/trainings/{training_id}/resume", summary="Train a stopped training on from its checkpoint")
    def resume_training(training_id: int) -> dict:
        """Resume the stopped training in a new process, bit for bit as if it had not stopped."""
        return manager.resume(training_id).summary()

"""A bounded load test of the web app: `neuralnet serve` on 127.0.0.1, N prediction requests
from C concurrent clients (httpx, asyncio), then the error count and the latency percentiles.

    .venv/bin/python benchmarks/load_test.py --data-dir ../shared/data            # 500 requests, 20 clients
    .venv/bin/python benchmarks/load_test.py runs/20261125-171532 --mode json
    .venv/bin/python benchmarks/load_test.py --data-dir ../shared/data --compare-serialized --rounds 3

The requests are what the page sends: 280 x 280 PNG drawings of MNIST test digits as form
uploads (``--mode png``), the same digits as JSON pixels (``--mode json``), or both in turn
(``--mode mixed``, the default). Without a RUN (and no run in --runs-dir), a quick run is trained
into a temporary folder first. Everything is bounded: the number of requests, a timeout per
request and a deadline for the whole test. It prints numbers; it asserts nothing about time.
Exit status: 0 when every request got a 200 with 10 probabilities, 1 otherwise.

``--compare-serialized`` also runs, in turn with the real server, one whose predictions wait for
each other behind a single lock, as the app's did while the layers kept their last input
(neuralnet 0.1): the same run, the same requests, so the two rows show what answering requests
in parallel gives.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from neuralnet.serving.imaging import encode_png

#: a server like `neuralnet serve`, but every prediction behind one lock (neuralnet 0.1's app)
SERIALIZED_SERVER = """
import sys, threading
import uvicorn
from neuralnet.serving.predictor import Predictor
from neuralnet.web import create_app

lock = threading.Lock()
predict_proba = Predictor.predict_proba

def one_at_a_time(self, pixels):
    with lock:
        return predict_proba(self, pixels)

Predictor.predict_proba = one_at_a_time
uvicorn.run(create_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_or_train_run(args, scratch: Path) -> Path:
    if args.run:
        return Path(args.run)
    from neuralnet.runs import latest_run

    try:
        return latest_run(args.runs_dir)
    except FileNotFoundError:
        pass
    from neuralnet.runs.config import TrainingConfig
    from neuralnet.runs.experiment import train_run

    print(f"no run in {args.runs_dir}/: training a quick one (2 epochs, 7000 images)", flush=True)
    result = train_run(
        TrainingConfig(epochs=2, limit=7000, batch_size=20),
        args.data_dir,
        out=scratch,
        log=None,
        progress=False,
        figures=False,
    )
    return result.path


def test_digits(data_dir, count: int) -> np.ndarray:
    """MNIST test digits (n, 784) uint8; strokes drawn with Pillow if the data is not there."""
    try:
        from neuralnet.datasets import load_mnist

        X, _ = load_mnist(data_dir=data_dir, download=False)
        return X[60000 : 60000 + count]
    except Exception as error:  # noqa: BLE001 - any reason to lack data: fall back to drawings
        print(f"(no MNIST data: {error}; using random strokes)")
        from PIL import Image, ImageDraw

        rng = np.random.default_rng(0)
        digits = []
        for _ in range(count):
            image = Image.new("L", (28, 28), 0)
            draw = ImageDraw.Draw(image)
            for _ in range(3):
                draw.line([tuple(rng.integers(4, 24, 2)) for _ in range(3)], fill=255, width=2)
            digits.append(np.asarray(image).ravel())
        return np.array(digits)


def make_requests(digits: np.ndarray, mode: str) -> list[dict]:
    requests = []
    for k, pixels in enumerate(digits):
        kind = mode if mode != "mixed" else ("png" if k % 2 == 0 else "json")
        if kind == "png":
            requests.append({"files": {"file": ("drawing.png", encode_png(pixels, scale=10), "image/png")}})
        else:
            requests.append({"json": {"pixels": pixels.tolist()}})
    return requests


async def wait_until_up(base: str, process: subprocess.Popen, deadline: float) -> None:
    async with httpx.AsyncClient() as client:
        while True:
            try:
                if (await client.get(base + "/api/model", timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"the server exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("the server did not start in time")
            await asyncio.sleep(0.2)


async def hammer(base: str, payloads: list[dict], total: int, concurrency: int, timeout: float):
    """``total`` POST /api/predict from ``concurrency`` clients; returns (latencies, outcomes)."""
    latencies: list[float] = []
    outcomes: Counter = Counter()
    next_index = 0

    async def client_loop(client: httpx.AsyncClient):
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            started = time.perf_counter()
            try:
                response = await client.post(base + "/api/predict", timeout=timeout, **payloads[index % len(payloads)])
                ok = response.status_code == 200 and len(response.json().get("probabilities", [])) == 10
                outcomes["200 ok" if ok else f"HTTP {response.status_code}"] += 1
            except httpx.HTTPError as error:
                outcomes[type(error).__name__] += 1
            latencies.append(time.perf_counter() - started)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits) as client:
        await client.post(base + "/api/predict", timeout=timeout, **payloads[0])  # warm-up, not counted
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return np.array(latencies), outcomes, wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", help="run folder (default: the latest in --runs-dir, else train one)")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument(
        "--data-dir", default=os.environ.get("NEURALNET_DATA_DIR"), help="MNIST folder (default: $NEURALNET_DATA_DIR)"
    )
    parser.add_argument("--requests", type=int, default=500, help="number of requests (default: 500)")
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent clients (default: 20)")
    parser.add_argument(
        "--mode",
        choices=["mixed", "png", "json"],
        default="mixed",
        help="what to send (default: mixed, PNG uploads and JSON pixels in turn)",
    )
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds per request (default: 30)")
    parser.add_argument(
        "--deadline", type=float, default=300.0, help="seconds for the whole test, start-up included (default: 300)"
    )
    parser.add_argument(
        "--compare-serialized",
        action="store_true",
        help="also measure a server whose predictions run one at a time (as before 0.2)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="rounds of each server, alternating (default: 1)")
    parser.add_argument(
        "--with-training",
        action="store_true",
        help="train a network from the Train view's API (POST /api/trainings) while the requests run, and "
        "report how many epochs it trained meanwhile",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 10_000 or not 1 <= args.concurrency <= 200 or not 1 <= args.rounds <= 10:
        parser.error("expected 1 <= --requests <= 10000, 1 <= --concurrency <= 200 and 1 <= --rounds <= 10")

    deadline = time.monotonic() + args.deadline
    with tempfile.TemporaryDirectory(prefix="neuralnet-load-test-") as scratch:
        args.scratch = scratch
        return load_test(args, find_or_train_run(args, Path(scratch)), deadline)


#: the training run beside the requests with --with-training: long enough to outlast them
BACKGROUND_TRAINING = {
    "dataset": "spirals",
    "samples": 20000,
    "hidden": [64, 64],
    "activation": "relu",
    "loss": "cross-entropy",
    "optimizer": "adam",
    "lr": 0.003,
    "epochs": 500,
    "batch_size": 32,
}


async def start_training(base: str) -> int:
    """Start the background training and wait until its first mini-batches run; its id."""
    async with httpx.AsyncClient() as client:
        response = await client.post(base + "/api/trainings", json=BACKGROUND_TRAINING, timeout=30)
        response.raise_for_status()
        training = response.json()["id"]
        for _ in range(600):
            state = (await client.get(f"{base}/api/trainings/{training}", timeout=10)).json()["state"]
            if state == "running":
                return training
            if state not in ("starting",):
                raise RuntimeError(f"the background training is {state}")
            await asyncio.sleep(0.1)
    raise TimeoutError("the background training did not start")


async def stop_training(base: str, training: int) -> tuple[str, int]:
    """Its state during the requests and the epochs it trained; then stop it."""
    async with httpx.AsyncClient() as client:
        state = (await client.get(f"{base}/api/trainings/{training}", timeout=10)).json()["state"]
        events = (await client.get(f"{base}/api/trainings/{training}/log", timeout=10)).json()
        await client.post(f"{base}/api/trainings/{training}/stop", timeout=10)
    return state, sum(event["event"] == "epoch" for event in events)


def measure(args, run: Path, payloads: list[dict], command: list[str], base: str, deadline: float):
    """Start a server with ``command``, send the requests, stop it: (latencies, outcomes, wall)."""
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        asyncio.run(wait_until_up(base, server, deadline))
        training = asyncio.run(start_training(base)) if args.with_training else None
        remaining = deadline - time.monotonic()
        result = asyncio.run(
            asyncio.wait_for(
                hammer(base, payloads, args.requests, args.concurrency, args.request_timeout), timeout=remaining
            )
        )
        if training is not None:
            state, epochs = asyncio.run(stop_training(base, training))
            print(f"background training during the requests: {state}, {epochs} epochs of {BACKGROUND_TRAINING}")
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def load_test(args, run: Path, deadline: float) -> int:
    payloads = make_requests(test_digits(args.data_dir, 100), args.mode)
    servers = {
        "parallel (neuralnet serve)": lambda port: [
            sys.executable,
            "-m",
            "neuralnet",
            "serve",
            str(run),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--train-out",
            str(Path(args.scratch) / "trainings"),
        ]
    }
    if args.compare_serialized:
        servers["one prediction at a time (0.1's lock)"] = lambda port: [
            sys.executable,
            "-c",
            SERIALIZED_SERVER,
            str(run),
            str(port),
        ]
    results: dict[str, list] = {name: [] for name in servers}
    for _ in range(args.rounds):
        for name, command in servers.items():
            port = free_port()
            results[name].append(measure(args, run, payloads, command(port), f"http://127.0.0.1:{port}", deadline))

    print(
        f"\nneuralnet serve {run} on 127.0.0.1 ({os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()})"
    )
    print(
        f"{args.requests} POST /api/predict ({args.mode}), {args.concurrency} concurrent clients, "
        f"{args.rounds} round(s) per server, alternating; medians over the rounds\n"
    )
    print("| server | requests | errors | p50 ms | p95 ms | p99 ms | max ms | requests/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    total_errors, notes = 0, []
    for name, runs in results.items():
        errors = sum(args.requests - outcomes["200 ok"] for _, outcomes, _ in runs)
        total_errors += errors
        median = lambda values: float(np.median(values))  # noqa: E731
        p50, p95, p99, top = (
            median([np.percentile(latencies, q) * 1000 for latencies, _, _ in runs]) for q in (50, 95, 99, 100)
        )
        rate = median([len(latencies) / wall for latencies, _, wall in runs])
        print(
            f"| {name} | {sum(len(latencies) for latencies, _, _ in runs)} | {errors} | {p50:.1f} | {p95:.1f} "
            f"| {p99:.1f} | {top:.1f} | {rate:.1f} |"
        )
        notes.append(f"outcomes ({name}): {dict(sum((outcomes for _, outcomes, _ in runs), Counter()))}")
    print("\n" + "\n".join(notes))
    print(f"zero-error check: {'PASS' if total_errors == 0 else 'FAIL'} ({total_errors} errors)")
    return 0 if total_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

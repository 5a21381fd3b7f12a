"""Tests for verified downloads and for locating/loading data set files.

A real ``ThreadingHTTPServer`` on 127.0.0.1 serves generated IDX files (and
the real MNIST files) so that no test needs the internet.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import shutil
import socket
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from neuralnet.datasets import (
    DATASETS,
    DataNotFoundError,
    DownloadError,
    IDXFormatError,
    candidate_data_dirs,
    default_cache_dir,
    download_file,
    load_dataset,
    locate_dataset_files,
    read_idx,
    write_idx,
)

MNIST_FILES = list(DATASETS["mnist"].sha256)


class RecordingHandler(SimpleHTTPRequestHandler):
    """Serves a folder, records requested paths, and fakes a cut-off transfer on /short/."""

    def __init__(self, *args, requested: list[str], **kwargs):
        self.requested = requested
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.requested.append(self.path)
        if self.path.startswith("/short/"):
            body = gzip.compress(b"x" * 1000)[:40]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 500))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path):
    """Keep the user's data/cache folders and any proxy settings out of these tests."""
    monkeypatch.delenv("NEURALNET_DATA_DIR", raising=False)
    monkeypatch.setenv("NEURALNET_CACHE_DIR", str(tmp_path / "cache"))
    for variable in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)


@pytest.fixture
def serve():
    """Start HTTP servers on demand: ``serve(folder) -> (base_url, requested_paths)``."""
    running = []

    def start(folder: Path) -> tuple[str, list[str]]:
        requested: list[str] = []
        handler = functools.partial(RecordingHandler, directory=str(folder), requested=requested)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}/", requested

    yield start
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_url() -> str:
    """A URL on a local port nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def small_files(tmp_path):
    """A served folder with good, truncated, corrupted and wrong copies of a small IDX file."""
    folder = tmp_path / "served"
    folder.mkdir()
    array = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    write_idx(folder / "good.idx", array)
    raw = (folder / "good.idx").read_bytes()
    compressed = gzip.compress(raw)
    (folder / "good.idx.gz").write_bytes(compressed)
    (folder / "truncated.idx.gz").write_bytes(compressed[: len(compressed) // 2])
    middle = len(compressed) // 2
    corrupted = compressed[:middle] + bytes(b ^ 0xFF for b in compressed[middle : middle + 8])
    (folder / "corrupted.idx.gz").write_bytes(corrupted + compressed[middle + 8 :])
    write_idx(folder / "other.idx.gz", array[::-1])
    return {
        "folder": folder,
        "array": array,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "compressed": compressed,
    }


def test_good_file_downloads_and_lands(serve, small_files, tmp_path):
    base_url, requested = serve(small_files["folder"])
    destination = tmp_path / "dest" / "good.idx.gz"
    result = download_file(base_url + "good.idx.gz", destination, small_files["sha256"], progress=False)
    assert result == destination
    assert destination.read_bytes() == small_files["compressed"]
    np.testing.assert_array_equal(read_idx(destination), small_files["array"])
    assert os.listdir(destination.parent) == ["good.idx.gz"]
    assert requested == ["/good.idx.gz"]
    if os.name == "posix":
        assert destination.stat().st_mode & 0o777 == 0o644


def test_uncompressed_download_matches_decompressed_checksum(serve, small_files, tmp_path):
    base_url, _ = serve(small_files["folder"])
    destination = tmp_path / "dest" / "good.idx"
    checksum = small_files["sha256"].upper()  # case does not matter
    download_file([base_url + "good.idx"], destination, checksum, progress=True)
    np.testing.assert_array_equal(read_idx(destination), small_files["array"])


@pytest.mark.parametrize(
    "served_name, reason",
    [
        ("truncated.idx.gz", "truncated gzip"),
        ("corrupted.idx.gz", "corrupt gzip"),
        ("other.idx.gz", "checksum mismatch"),
        ("short/file.gz", "ncomplete"),
    ],
)
def test_bad_download_is_rejected_and_leaves_nothing(serve, small_files, tmp_path, served_name, reason):
    base_url, _ = serve(small_files["folder"])
    destination_dir = tmp_path / "dest"
    destination = destination_dir / "file.idx.gz"
    with pytest.raises(DownloadError) as caught:
        download_file(base_url + served_name, destination, small_files["sha256"], progress=False)
    error = caught.value
    assert isinstance(error, OSError)
    assert len(error.failures) == 1
    url, why = error.failures[0]
    assert url == base_url + served_name
    assert reason in why
    assert url in str(error) and reason in str(error)
    assert os.listdir(destination_dir) == []


def test_checksum_mismatch_names_expected_and_actual(serve, small_files, tmp_path):
    base_url, _ = serve(small_files["folder"])
    wrong_content = (small_files["folder"] / "other.idx.gz").read_bytes()
    actual = hashlib.sha256(gzip.decompress(wrong_content)).hexdigest()
    with pytest.raises(DownloadError) as caught:
        download_file(base_url + "other.idx.gz", tmp_path / "x.gz", small_files["sha256"], progress=False)
    message = str(caught.value)
    assert f"expected SHA-256 {small_files['sha256']}" in message
    assert f"got {actual}" in message


def test_existing_destination_left_untouched_on_failure(serve, small_files, tmp_path):
    base_url, _ = serve(small_files["folder"])
    destination = tmp_path / "dest" / "good.idx.gz"
    destination.parent.mkdir()
    destination.write_bytes(b"previous content")
    with pytest.raises(DownloadError):
        download_file(
            [base_url + "corrupted.idx.gz", base_url + "other.idx.gz"],
            destination,
            small_files["sha256"],
            progress=False,
        )
    assert destination.read_bytes() == b"previous content"
    assert os.listdir(destination.parent) == ["good.idx.gz"]


def test_404_falls_through_to_next_mirror(serve, small_files, tmp_path):
    base_url, requested = serve(small_files["folder"])
    destination = tmp_path / "good.idx.gz"
    download_file(
        [base_url + "missing.idx.gz", base_url + "good.idx.gz"], destination, small_files["sha256"], progress=False
    )
    assert requested == ["/missing.idx.gz", "/good.idx.gz"]
    np.testing.assert_array_equal(read_idx(destination), small_files["array"])


def test_dead_port_falls_through_to_next_mirror(serve, small_files, tmp_path, dead_url):
    base_url, _ = serve(small_files["folder"])
    destination = tmp_path / "good.idx.gz"
    download_file(
        [dead_url + "good.idx.gz", base_url + "good.idx.gz"],
        destination,
        small_files["sha256"],
        timeout=5,
        progress=False,
    )
    assert destination.read_bytes() == small_files["compressed"]


def test_all_mirrors_failing_lists_each_reason(serve, small_files, tmp_path, dead_url):
    base_url, _ = serve(small_files["folder"])
    urls = [base_url + "missing.idx.gz", dead_url + "good.idx.gz", base_url + "truncated.idx.gz"]
    with pytest.raises(DownloadError) as caught:
        download_file(urls, tmp_path / "good.idx.gz", small_files["sha256"], timeout=5, progress=False)
    reasons = dict(caught.value.failures)
    assert list(reasons) == urls
    assert reasons[urls[0]] == "HTTP error 404 File not found"
    assert reasons[urls[1]].startswith("cannot connect")
    assert "refused" in reasons[urls[1]].lower()
    assert reasons[urls[2]].startswith("truncated gzip")
    assert str(caught.value).splitlines()[0] == (f"could not download good.idx.gz to {tmp_path / 'good.idx.gz'}:")
    assert os.listdir(tmp_path) == ["served"]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="64 hex digits"):
        download_file("http://127.0.0.1:1/x", tmp_path / "x", "abc123")
    with pytest.raises(ValueError, match="no URLs"):
        download_file([], tmp_path / "x", "0" * 64)


# Locating and loading data set files ------------------------------------------------


def touch_files(folder: Path, names) -> None:
    """Create empty files (enough for locating, not for loading)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).touch()


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("NEURALNET_CACHE_DIR", str(tmp_path / "override"))
    assert default_cache_dir() == tmp_path / "override"
    monkeypatch.delenv("NEURALNET_CACHE_DIR")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "neuralnet"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "neuralnet"
    monkeypatch.setattr(sys, "platform", "darwin")
    assert default_cache_dir() == Path.home() / "Library" / "Caches" / "neuralnet"
    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "local"))
    assert default_cache_dir() == tmp_path / "local" / "neuralnet" / "Cache"


def test_candidate_data_dirs_order(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    assert candidate_data_dirs() == [cache]
    monkeypatch.setenv("NEURALNET_DATA_DIR", str(tmp_path / "env"))
    assert candidate_data_dirs() == [tmp_path / "env", cache]
    assert candidate_data_dirs(tmp_path / "explicit") == [tmp_path / "explicit", tmp_path / "env", cache]
    assert candidate_data_dirs(tmp_path / "env") == [tmp_path / "env", cache]


def test_locate_prefers_first_complete_folder(monkeypatch, tmp_path):
    touch_files(tmp_path / "explicit" / "mnist", MNIST_FILES[:3])  # incomplete
    touch_files(tmp_path / "env" / "mnist", [name[:-3] for name in MNIST_FILES])  # uncompressed
    touch_files(tmp_path / "cache" / "mnist", MNIST_FILES)
    monkeypatch.setenv("NEURALNET_DATA_DIR", str(tmp_path / "env"))
    files = locate_dataset_files("mnist", data_dir=tmp_path / "explicit")
    assert files == {
        "train_images": tmp_path / "env" / "mnist" / "train-images-idx3-ubyte",
        "train_labels": tmp_path / "env" / "mnist" / "train-labels-idx1-ubyte",
        "test_images": tmp_path / "env" / "mnist" / "t10k-images-idx3-ubyte",
        "test_labels": tmp_path / "env" / "mnist" / "t10k-labels-idx1-ubyte",
    }
    monkeypatch.delenv("NEURALNET_DATA_DIR")
    assert locate_dataset_files("mnist")["test_labels"] == (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz")


def test_explicit_folder_may_hold_files_directly(tmp_path):
    touch_files(tmp_path / "my-digits", MNIST_FILES)
    files = locate_dataset_files("mnist", data_dir=tmp_path / "my-digits")
    assert files["train_images"] == tmp_path / "my-digits" / "train-images-idx3-ubyte.gz"
    # A folder named after MNIST is not taken for Fashion-MNIST.
    touch_files(tmp_path / "mnist", MNIST_FILES)
    with pytest.raises(DataNotFoundError, match="named after another data set"):
        locate_dataset_files("fashion-mnist", data_dir=tmp_path / "mnist")


def test_download_false_on_empty_folder(tmp_path):
    data_dir = tmp_path / "empty"
    data_dir.mkdir()
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset("mnist", data_dir=data_dir, download=False)
    assert isinstance(caught.value, FileNotFoundError)
    message = str(caught.value)
    assert all(name in message for name in MNIST_FILES)
    assert f"{data_dir / 'mnist'}: folder does not exist" in message
    assert f"{data_dir}: missing {', '.join(MNIST_FILES)}" in message
    assert f"{tmp_path / 'cache' / 'mnist'}: folder does not exist" in message
    assert f"in {data_dir / 'mnist'}{os.sep}" in message
    assert "NEURALNET_DATA_DIR" in message and "--data-dir" in message
    assert "Downloading failed" not in message


def test_folder_missing_one_file_names_that_file(tmp_path):
    folder = tmp_path / "data" / "mnist"
    touch_files(folder, MNIST_FILES[:3])
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset("mnist", data_dir=tmp_path / "data", download=False)
    lines = str(caught.value).splitlines()
    assert f"  {folder}: missing t10k-labels-idx1-ubyte.gz" in lines


def test_load_dataset_downloads_into_empty_data_dir(serve, data_dir, mnist, tmp_path):
    source = locate_dataset_files("mnist", data_dir=data_dir)["train_images"].parent
    base_url, requested = serve(source)
    target_root = tmp_path / "data"
    X, y = load_dataset("mnist", data_dir=target_root, download=True, mirrors=[base_url], progress=False)
    assert sorted(requested) == sorted("/" + name for name in MNIST_FILES)
    assert sorted(os.listdir(target_root / "mnist")) == sorted(MNIST_FILES)
    X_expected, y_expected = mnist
    assert X.shape == (70000, 784) and X.dtype == np.uint8 and X.flags.c_contiguous
    assert y.shape == (70000,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(y, y_expected)


def test_load_dataset_downloads_only_missing_files(serve, data_dir, mnist, tmp_path, monkeypatch):
    source = locate_dataset_files("mnist", data_dir=data_dir)["train_images"].parent
    base_url, requested = serve(source)
    target = tmp_path / "env-data" / "mnist"
    target.mkdir(parents=True)
    for name in MNIST_FILES[:3]:
        shutil.copy(source / name, target / name)
    monkeypatch.setenv("NEURALNET_DATA_DIR", str(tmp_path / "env-data"))
    X, y = load_dataset("mnist", download=True, mirrors=base_url, progress=False)
    assert requested == ["/t10k-labels-idx1-ubyte.gz"]
    np.testing.assert_array_equal(y, mnist[1])


def test_failed_download_gives_data_not_found_with_reasons(tmp_path, dead_url):
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset("fashion-mnist", data_dir=tmp_path / "data", mirrors=[dead_url], progress=False)
    message = str(caught.value)
    assert "Fashion-MNIST data files not found" in message
    assert "Downloading failed:" in message
    for name in MNIST_FILES:
        assert f"    {dead_url}{name}: cannot connect" in message
    assert os.listdir(tmp_path / "data" / "fashion-mnist") == []


@pytest.fixture
def folder_with_real_images(data_dir, tmp_path):
    """A data set folder whose image files link to the real ones (labels written by tests)."""
    source = locate_dataset_files("mnist", data_dir=data_dir)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for role in ("train_images", "test_images"):
        (folder / source[role].name).symlink_to(source[role])
    write_idx(folder / "t10k-labels-idx1-ubyte", read_idx(source["test_labels"]))
    return folder, read_idx(source["train_labels"])


def test_load_rejects_label_out_of_range(folder_with_real_images):
    folder, train_labels = folder_with_real_images
    train_labels[123] = 10
    write_idx(folder / "train-labels-idx1-ubyte.gz", train_labels)
    with pytest.raises(
        IDXFormatError,
        match=r"train-labels-idx1-ubyte\.gz: labels must be in "
        r"0\.\.9, found 10",
    ):
        load_dataset("mnist", data_dir=folder, download=False)


def test_load_rejects_label_count_mismatch(folder_with_real_images):
    folder, train_labels = folder_with_real_images
    write_idx(folder / "train-labels-idx1-ubyte", train_labels[:-1])
    with pytest.raises(
        IDXFormatError,
        match=r"train-labels-idx1-ubyte: expected 60000 labels "
        r"\(one per image\), got 59999",
    ):
        load_dataset("mnist", data_dir=folder, download=False)


def test_load_rejects_wrong_image_files(tmp_path):
    folder = tmp_path / "mnist"
    touch_files(folder, MNIST_FILES)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 27), np.uint8))
    with pytest.raises(
        IDXFormatError,
        match=r"train-images-idx3-ubyte\.gz: expected uint8 "
        r"images of shape \(n, 28, 28\)",
    ):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(IDXFormatError, match="expected 60000 images, got 4"):
        load_dataset("mnist", data_dir=tmp_path, download=False)
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((4, 28, 28), np.float32))
    with pytest.raises(IDXFormatError, match="got float32 array"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        load_dataset("cifar", download=False)


def test_known_checksums_match_the_shared_sums_file(data_dir):
    sums_file = data_dir / "SHA256SUMS.decompressed"
    if not sums_file.is_file():
        pytest.skip(f"{sums_file} not found")
    listed = {}
    for line in sums_file.read_text().splitlines():
        checksum, relative_path = line.split()
        folder, file_name = relative_path.split("/")
        listed[folder, file_name] = checksum
    table = {(info.folder, name): checksum for info in DATASETS.values() for name, checksum in info.sha256.items()}
    assert table == listed


def test_unwritable_destination_folder(serve, small_files, tmp_path, monkeypatch):
    base_url, _ = serve(small_files["folder"])

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(kwargs["dir"]))

    monkeypatch.setattr("neuralnet.datasets.download.tempfile.mkstemp", refuse)
    destination = tmp_path / "locked" / "good.idx.gz"
    with pytest.raises(DownloadError) as caught:
        download_file(base_url + "good.idx.gz", destination, small_files["sha256"], progress=False)
    assert caught.value.failures == [
        (base_url + "good.idx.gz", f"cannot write {destination}: [Errno 13] Permission denied: '{destination.parent}'")
    ]


# --- bounded downloads (the fault audit, issue 20, item 3) -------------------------------------------


@pytest.fixture
def trickle_url():
    """A server that answers with a Content-Length of 1 MB, then sends one byte every 0.2 s."""
    import time

    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve_forever():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=trickle, args=(connection,), daemon=True).start()

    def trickle(connection):
        with connection:
            try:
                connection.recv(4096)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\nI")
                while not stop.is_set():
                    time.sleep(0.2)
                    connection.sendall(b"D")
            except OSError:
                pass

    thread = threading.Thread(target=serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/slow.gz"
    stop.set()
    thread.join(timeout=5)
    listener.close()


@pytest.fixture
def silent_url():
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/never.gz"
    listener.close()


def test_audit_3_a_trickling_mirror_is_given_up_by_the_minimum_rate(trickle_url, tmp_path):
    import time

    started = time.monotonic()
    with pytest.raises(DownloadError) as failed:
        download_file(trickle_url, tmp_path / "x.gz", "0" * 64, progress=False, min_rate=100, rate_window=1.5)
    assert time.monotonic() - started < 10
    assert re.search(
        r"slow.gz: too slow: \d+ bytes/s over the last \d s \(the minimum is 100 bytes/s; \d+ bytes "
        r"received\)",
        str(failed.value),
    ), str(failed.value)
    assert list(tmp_path.iterdir()) == []  # no partial file


def test_audit_3_all_mirrors_together_have_a_deadline(trickle_url, silent_url, tmp_path):
    import time

    started = time.monotonic()
    with pytest.raises(DownloadError) as failed:
        download_file(
            [trickle_url, silent_url, trickle_url],
            tmp_path / "x.gz",
            "0" * 64,
            progress=False,
            deadline=2.0,
            min_rate=0,
            timeout=1.0,
        )
    elapsed = time.monotonic() - started
    assert elapsed < 6, elapsed
    message = str(failed.value)
    assert re.search(r"slow.gz: gave up at the deadline of 2 s for all mirrors \(\d+ bytes received in \d s\)", message)
    assert re.search(r"never.gz: (timed out after [\d.]+ s|not tried: the deadline of 2 s)", message), message
    assert "slow.gz: not tried: the deadline of 2 s for all mirrors had passed" in message
    assert list(tmp_path.iterdir()) == []


def test_audit_3_a_silent_mirror_costs_one_timeout(silent_url, serve, small_files, tmp_path):
    import time

    base_url, _ = serve(small_files["folder"])
    started = time.monotonic()
    download_file(
        [silent_url, base_url + "good.idx.gz"],
        tmp_path / "good.idx.gz",
        small_files["sha256"],
        progress=False,
        timeout=1.0,
    )
    assert time.monotonic() - started < 5


def test_audit_3_partial_files_are_removed_on_ctrl_c_and_after_a_kill(trickle_url, tmp_path, monkeypatch):
    import neuralnet.datasets.download as download

    # left behind by a killed process: removed by the next download into the folder
    (tmp_path / ".x.gz.abc123.part").write_bytes(b"half")
    real_check = download._Limits.check

    def interrupted(self, *args):
        real_check(self, *args)
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM as the command line turns it into one

    monkeypatch.setattr(download._Limits, "check", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_file(trickle_url, tmp_path / "x.gz", "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []

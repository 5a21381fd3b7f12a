"""The web app in a real browser: Playwright for Python drives Debian's Chromium (/usr/bin/chromium).

The server is uvicorn in a background thread on 127.0.0.1 and a free port. Screenshots are kept
in $NEURALNET_TEST_ARTIFACTS (default: test-artifacts/ in the repository). Without a browser the
tests are skipped, saying why, except in CI (NEURALNET_REQUIRE_BROWSER=1), where that fails.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuralnet.runs.config import SETTINGS, TrainingConfig
from neuralnet.runs.experiment import train_run
from neuralnet.serving.imaging import encode_png, image_to_mnist
from neuralnet.serving.predictor import load
from neuralnet.web import create_app
from neuralnet.web.requests import file_from_multipart

pytestmark = pytest.mark.browser

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails in CI) with the reason
    expect = None

CHROMIUM = os.environ.get("NEURALNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
QUICK_RUN = TrainingConfig(epochs=2, limit=7000, batch_size=20)
TIMEOUT_MS = 20_000


def no_browser(reason: str):
    if os.environ.get("NEURALNET_REQUIRE_BROWSER") == "1":
        pytest.fail(f"NEURALNET_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"browser tests skipped: {reason} (set NEURALNET_CHROMIUM or install Debian's chromium)")


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get("NEURALNET_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as error:
        no_browser(f"Playwright for Python is not installed ({error})")
    if not Path(CHROMIUM).is_file():
        no_browser(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        except Error as error:
            no_browser(f"Chromium at {CHROMIUM} does not start: {str(error).splitlines()[0]}")
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory, data_dir):
    return train_run(QUICK_RUN, data_dir, out=tmp_path_factory.mktemp("runs"), log=None, progress=False).path


@pytest.fixture(scope="module")
def predictor(run_folder):
    return load(run_folder)


class RecordPredictRequests:
    """ASGI wrapper that keeps the body of every POST /api/predict as the server received it,
    so that a test can check the page's answer against what the page really sent."""

    def __init__(self, app):
        self.app = app
        self.bodies: list[tuple[str, bytes]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/api/predict":
            return await self.app(scope, receive, send)
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode("latin-1")
        chunks = []

        async def recording_receive():
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.bodies.append((content_type, b"".join(chunks)))
            return message

        await self.app(scope, recording_receive, send)


@pytest.fixture(scope="module")
def server(run_folder):
    """uvicorn serving the run on 127.0.0.1 and a port the system picks."""
    import uvicorn

    app = RecordPredictRequests(create_app(run_folder))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    app.url = f"http://127.0.0.1:{port}"
    yield app
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 860}, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors, foreign = [], []
    local = (server.url, "blob:" + server.url)  # blob: is the upload's preview, made in the page
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith(local) else foreign.append(request.url))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-model-loaded]")
    server.bodies.clear()
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert foreign == [], f"the page loaded something from elsewhere: {foreign}"


# --- helpers ------------------------------------------------------------------------------------


def wait_until_answered(page) -> None:
    page.wait_for_function("() => window.neuralnetPage.isIdle()")


def shown_probabilities(page) -> list[float | None]:
    return page.eval_on_selector_all(
        "#bars li", "rows => rows.map(r => r.dataset.probability === undefined ? null : Number(r.dataset.probability))"
    )


def shown_top_class(page) -> int | None:
    value = page.get_attribute("#top-class", "data-top-class")
    return None if value is None else int(value)


def updates(page) -> int:
    return int(page.get_attribute("#bars", "data-updates"))


def seen_image(page) -> np.ndarray:
    """The 28 x 28 image the page shows as what the network sees (red channel of the canvas)."""
    data = page.evaluate(
        "() => Array.from(document.getElementById('seen').getContext('2d').getImageData(0, 0, 28, 28).data)"
    )
    return np.array(data, dtype=np.uint8).reshape(28, 28, 4)[..., 0]


def pad_ink(page) -> int:
    return page.evaluate(
        "() => document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280)"
        ".data.reduce((sum, v, i) => i % 4 === 0 ? sum + v : sum, 0)"
    )


def stroke(page, points, steps: int = 8) -> None:
    """Draw one stroke with the mouse through ``points`` (pad coordinates, 0..280)."""
    box = page.locator("#pad").bounding_box()
    scale = box["width"] / 280

    def to_page(point):
        return box["x"] + point[0] * scale, box["y"] + point[1] * scale

    page.mouse.move(*to_page(points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*to_page(point), steps=steps)
    page.mouse.up()


def paint_pixels(page, pixels: np.ndarray) -> None:
    """Paint a 28 x 28 image into the pad, each pixel a 10 x 10 block of its grey level."""
    page.evaluate(
        """(pixels) => {
        const pad = document.getElementById('pad');
        const context = pad.getContext('2d');
        context.fillStyle = 'black';
        context.fillRect(0, 0, pad.width, pad.height);
        pixels.forEach((v, i) => {
            context.fillStyle = `rgb(${v}, ${v}, ${v})`;
            context.fillRect((i % 28) * 10, Math.floor(i / 28) * 10, 10, 10);
        });
    }""",
        [int(v) for v in pixels],
    )


def with_article(label: str) -> str:
    return ("an " if label.startswith("8") or label in ("11", "18") or label[:1].lower() in "aeiou" else "a ") + label


def verdict(probabilities, classes=tuple(str(k) for k in range(10))) -> str:
    """The page's answer in words: stated from 80% on, "probably" from 50% on, else a question."""
    first, second = np.argsort(probabilities)[::-1][:2]
    top, other = with_article(classes[first]), with_article(classes[second])
    if probabilities[first] >= 0.8:
        return f"it looks like {top}."
    if probabilities[first] >= 0.5:
        return f"probably {top}, perhaps {other}."
    return f"not sure: {top} or {other}?"


def last_sent_image(server) -> bytes:
    """The image file in the multipart body of the page's latest POST /api/predict."""
    content_type, body = server.bodies[-1]
    assert content_type.startswith("multipart/form-data")
    return file_from_multipart(body, content_type)


# --- the Draw view ------------------------------------------------------------------------------


def test_drawing_with_the_mouse_changes_the_bars(page, server, predictor, artifacts):
    assert shown_probabilities(page) == [None] * 10 and shown_top_class(page) is None
    assert seen_image(page).max() == 0

    stroke(page, [(140, 40), (140, 240)])  # a vertical bar
    wait_until_answered(page)
    first = shown_probabilities(page)
    assert all(p is not None for p in first) and updates(page) >= 1
    assert shown_top_class(page) == int(np.argmax(first))
    assert page.text_content("#top-class") == str(int(np.argmax(first)))
    assert seen_image(page).max() == 255
    assert len(server.bodies) >= 1

    before, sent_before = updates(page), len(server.bodies)
    stroke(page, [(90, 60), (190, 60), (120, 250)])  # ... and a 7 across it
    wait_until_answered(page)
    second = shown_probabilities(page)
    assert updates(page) > before and len(server.bodies) > sent_before and second != first

    # the bars show the model's answer for the picture the page sent last
    image = image_to_mnist(last_sent_image(server))
    np.testing.assert_allclose(second, predictor.predict_proba(image.reshape(1, 784))[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(seen_image(page), image)
    widths = page.eval_on_selector_all("#bars .fill", "fills => fills.map(f => f.style.width)")
    assert all(width.endswith("%") for width in widths)
    np.testing.assert_allclose([float(width[:-1]) for width in widths], np.clip(second, 0, 1) * 100, atol=1e-3)
    page.screenshot(path=str(artifacts / "web-draw.png"))


def test_clear_resets_the_pad_and_the_answer(page):
    stroke(page, [(100, 100), (180, 200)])
    wait_until_answered(page)
    assert pad_ink(page) > 0 and shown_top_class(page) is not None
    page.click("#clear")
    assert pad_ink(page) == 0
    assert shown_probabilities(page) == [None] * 10 and shown_top_class(page) is None
    assert page.text_content("#top-class") == "\u2013" and seen_image(page).max() == 0


def test_a_real_mnist_test_image_painted_into_the_canvas(page, server, predictor, mnist, artifacts):
    """Paint test digits into the pad as 10 x 10 blocks: the page posts the pad as a PNG, the
    server crops, scales and centres it. The page's top class must be the model's prediction for
    the image the page sent, and, since MNIST digits are already normalized, that image must be
    the test digit itself, so the page also agrees with the model on the original 784 pixels."""
    X, y = mnist
    test_X = X[60000:]
    for index in (0, 1, 2, 3, 4, 7, 11, 18):
        pixels = test_X[index]
        page.click("#clear")
        paint_pixels(page, pixels)
        sent_before = len(server.bodies)
        page.evaluate("() => window.neuralnetPage.requestPrediction()")
        wait_until_answered(page)
        assert len(server.bodies) == sent_before + 1
        sent = image_to_mnist(last_sent_image(server))
        expected = predictor.predict_proba(sent.reshape(1, 784))[0]
        assert shown_top_class(page) == int(np.argmax(expected)), index
        np.testing.assert_allclose(shown_probabilities(page), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(seen_image(page), sent)
        assert np.abs(sent.astype(int) - pixels.reshape(28, 28)).mean() < 1.0, index
        assert shown_top_class(page) == int(predictor.predict(pixels.reshape(1, 784))[0]), index
        if index == 0:
            page.screenshot(path=str(artifacts / "web-mnist-digit.png"))


def test_drawing_with_a_finger(page, artifacts):
    """Touch events (as a phone sends them) draw on the pad and get an answer."""
    box = page.locator("#pad").bounding_box()
    cdp = page.context.new_cdp_session(page)
    x = box["x"] + box["width"] / 2

    def touch(kind, y=None):
        points = [] if y is None else [{"x": x, "y": box["y"] + y, "id": 1}]
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    touch("touchStart", 40)
    for y in range(50, 250, 10):
        touch("touchMove", y)
    touch("touchEnd")
    wait_until_answered(page)
    assert pad_ink(page) > 0
    assert shown_top_class(page) is not None and updates(page) >= 1
    page.screenshot(path=str(artifacts / "web-touch.png"))


def test_uploading_a_jpeg_of_dark_ink(page, server, predictor, mnist, artifacts, tmp_path):
    X, _ = mnist
    digit = X[60000 + 5]
    photo = Image.open(io.BytesIO(encode_png(digit, scale=12, invert=True))).convert("RGB")
    path = tmp_path / "digit.jpg"
    photo.save(path, format="JPEG", quality=90)
    page.set_input_files("#upload", str(path))
    page.wait_for_function("() => document.getElementById('bars').dataset.updates !== '0'")
    wait_until_answered(page)
    assert last_sent_image(server) == path.read_bytes()
    expected = predictor.predict_proba(image_to_mnist(path.read_bytes()).reshape(1, 784))[0]
    assert shown_top_class(page) == int(np.argmax(expected))
    assert page.text_content("#status") == f"digit.jpg: {verdict(expected)}"
    expect(page.locator("#upload-preview")).to_be_visible()
    page.screenshot(path=str(artifacts / "web-upload.png"))


def test_uploads_the_server_refuses_show_its_message(page, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a digit")
    big = tmp_path / "photo.png"  # 3 MB of noise: over the 2 MB limit
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > 2 * 2**20
    for path, expected in [(text, "expected a PNG or JPEG"), (big, "larger than 2,097,152 bytes (2 MB)")]:
        page.set_input_files("#upload", str(path))
        page.wait_for_function(
            "(expected) => document.getElementById('status').textContent.includes(expected)", arg=expected
        )
        assert page.text_content("#status").startswith("Error: ")
        expect(page.locator("#status")).to_have_class("status error")
        assert shown_top_class(page) is None


# --- the Model view -------------------------------------------------------------------------------


def test_the_model_view_shows_the_run(page, run_folder, predictor, artifacts):
    import json

    page.click("#tab-model")  # the view changes on the hashchange event, just after the click
    expect(page.locator("#model-view")).to_be_visible()
    expect(page.locator("#draw-view")).to_be_hidden()
    metrics = json.loads((run_folder / "metrics.json").read_text())
    assert page.text_content("#test-acc") == f"{metrics['test_acc'] * 100:.2f}%"
    assert "784 \u2192 50 \u2192 10" in page.text_content("#architecture")
    assert "batch_size" in page.text_content("#hyperparameters")
    assert page.locator("#history tbody tr").count() == 2
    assert page.locator("#confusion tbody tr").count() == 10
    diagonal = [int(t) for t in page.locator("#confusion td.diagonal").all_text_contents()]
    assert diagonal == [row[k] for k, row in enumerate(metrics["confusion_matrix"])]

    page.wait_for_function("() => Array.from(document.querySelectorAll('#model-view img')).every(img => img.complete)")
    figures = page.eval_on_selector_all(
        "#figures img", "imgs => imgs.map(img => [img.dataset.figure, img.naturalWidth, img.naturalHeight])"
    )
    assert {name for name, _, _ in figures} >= {
        "loss",
        "accuracy",
        "confusion_matrix",
        "misclassified",
        "hidden_weights",
    }
    assert all(width > 0 and height > 0 for _, width, height in figures), figures
    units = page.eval_on_selector_all("#hidden-units img", "imgs => imgs.map(img => [img.src, img.naturalWidth])")
    assert len(units) == predictor.network.parameters()[0].value.shape[0] == 50
    assert all(width == 112 for _, width in units), [unit for unit in units if unit[1] != 112]
    page.screenshot(path=str(artifacts / "web-model.png"), full_page=True)

    page.click("#tab-draw")
    expect(page.locator("#draw-view")).to_be_visible()
    expect(page.locator("#model-view")).to_be_hidden()


def test_the_model_view_opens_from_its_address(page, server):
    page.goto(server.url + "/#model")
    page.wait_for_selector("body[data-model-loaded]")
    expect(page.locator("#model-view")).to_be_visible()
    expect(page.locator("#tab-model")).to_have_attribute("aria-current", "page")
    expect(page.locator("#tab-draw")).not_to_have_attribute("aria-current", "page")


def test_the_api_docs_render_without_a_network(page, server, artifacts):
    """/docs loads Swagger UI from the package, not a CDN (the `page` fixture fails on any
    request that leaves the server), and lists the API's operations."""
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/predict" in p for p in paths) and any("/api/model" in p for p in paths)
    page.screenshot(path=str(artifacts / "web-docs.png"))


# --- wording, pen, undo, failures, the phone -----------------------------------------------------


def test_the_answer_is_worded_as_sure_as_the_network_is(page):
    assert verdict([0.05, 0.9, 0.05]) == "it looks like a 1." and with_article("8") == "an 8"
    assert verdict([0.3, 0.6, 0.1]) == "probably a 1, perhaps a 0."
    assert verdict([0.3, 0.25, 0.45]) == "not sure: a 2 or a 0?"
    for points in ([(140, 40), (140, 240)], [(80, 60), (200, 60), (110, 250)], [(100, 100), (180, 100), (180, 200)]):
        page.click("#clear")
        stroke(page, points)
        wait_until_answered(page)
        probabilities = shown_probabilities(page)
        assert page.text_content("#status") == verdict(probabilities).capitalize()


def test_a_small_drawing_gets_a_thin_pen_and_the_hint_to_draw_bigger(page, server):
    stroke(page, [(130, 120), (130, 160)])  # 40 pad pixels tall
    wait_until_answered(page)
    assert "Draw bigger" in page.text_content("#status")
    # the pen is an eighth of the drawing (at least 5 pixels): the stroke is 5 pixels wide, not 20
    row = page.evaluate(
        "() => Array.from(document.getElementById('pad').getContext('2d').getImageData(0, 140, 280, 1).data)"
    )
    lit = [x for x in range(280) if row[4 * x] > 128]
    assert 4 <= len(lit) <= 7, lit
    page.click("#clear")
    stroke(page, [(140, 30), (140, 250)])
    wait_until_answered(page)
    assert "Draw bigger" not in page.text_content("#status")
    row = page.evaluate(
        "() => Array.from(document.getElementById('pad').getContext('2d').getImageData(0, 140, 280, 1).data)"
    )
    assert 18 <= len([x for x in range(280) if row[4 * x] > 128]) <= 22


def test_undo_takes_back_the_last_stroke(page, server, predictor):
    expect(page.locator("#undo")).to_be_disabled()
    stroke(page, [(140, 40), (140, 240)])
    wait_until_answered(page)
    alone = shown_probabilities(page)
    ink_alone = pad_ink(page)
    stroke(page, [(90, 60), (190, 60)])
    wait_until_answered(page)
    assert shown_probabilities(page) != alone
    page.click("#undo")
    wait_until_answered(page)
    assert pad_ink(page) == ink_alone
    np.testing.assert_allclose(shown_probabilities(page), alone, rtol=1e-6)
    page.click("#undo")
    assert pad_ink(page) == 0 and shown_top_class(page) is None
    expect(page.locator("#undo")).to_be_disabled()


def test_a_failed_upload_leaves_no_earlier_answer_or_picture(page, server, mnist, tmp_path):
    X, _ = mnist
    good = tmp_path / "digit.png"
    good.write_bytes(encode_png(X[60000], scale=10, invert=True))
    page.set_input_files("#upload", str(good))
    page.wait_for_function("() => document.getElementById('bars').dataset.updates !== '0'")
    wait_until_answered(page)
    expect(page.locator("#upload-preview")).to_be_visible()
    assert shown_top_class(page) is not None and seen_image(page).max() > 0
    broken = tmp_path / "broken.png"
    broken.write_bytes(good.read_bytes()[:100])  # a PNG cut short
    page.set_input_files("#upload", str(broken))
    page.wait_for_function("() => document.getElementById('status').classList.contains('error')")
    wait_until_answered(page)
    assert shown_top_class(page) is None and shown_probabilities(page) == [None] * 10
    assert seen_image(page).max() == 0
    expect(page.locator("#upload-preview")).to_be_hidden()


def test_a_server_that_does_not_answer_is_named(page):
    page.route("**/api/predict", lambda route: route.abort())
    stroke(page, [(140, 40), (140, 240)])
    page.wait_for_function("() => document.getElementById('status').classList.contains('error')")
    assert "the server does not answer" in page.text_content("#status")
    assert "Failed to fetch" not in page.text_content("#status")


def test_on_a_phone_the_answer_is_in_sight_while_drawing(browser, server, artifacts):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-model-loaded]")
        assert page.locator("header").bounding_box()["height"] <= 56  # one line
        box = page.locator("#pad").bounding_box()
        cdp = page.context.new_cdp_session(page)
        x = box["x"] + box["width"] / 2
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": box["y"] + 20}]})
        for y in range(30, int(box["height"]) - 20, 10):
            points = [{"x": x, "y": box["y"] + y}]
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": points})
        # while the finger is still down: the answer and every bar are on the screen, unscrolled
        page.wait_for_function("() => document.getElementById('bars').dataset.updates !== '0'")
        assert page.evaluate("() => window.scrollY") == 0
        for selector in ("#pad", "#top-class", "#bars li:last-child", "#status"):
            part = page.locator(selector).bounding_box()
            assert part["y"] >= 0 and part["y"] + part["height"] <= 844, (selector, part)
        page.screenshot(path=str(artifacts / "web-phone-draw.png"))
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        page.goto(server.url + "/#model")
        page.wait_for_selector("body[data-model-loaded]")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # nothing overflows sideways
        page.screenshot(path=str(artifacts / "web-phone-model.png"), full_page=True)
    finally:
        context.close()


def test_figures_open_at_full_size_and_the_history_folds(page, run_folder):
    page.click("#tab-model")
    links = page.eval_on_selector_all("#figures a", "links => links.map(a => [a.href, a.target])")
    assert links and all(href.endswith(".png") and target == "_blank" for href, target in links)
    assert page.locator("#history tbody tr").count() == 2
    expect(page.locator("#history-all")).to_be_hidden()  # two epochs: nothing to fold
    # the main settings first, the other ones behind a button
    visible = page.locator("#hyperparameters tr:visible").count()
    total = page.locator("#hyperparameters tr").count()
    assert 5 <= visible < total == len(SETTINGS)
    assert "seed" in page.locator("#hyperparameters tr:visible").all_inner_texts()[-1]
    page.click("#settings-all")
    assert page.locator("#hyperparameters tr:visible").count() == total


# --- the Train view and the Backprop view -------------------------------------------------------------


def test_a_training_started_from_the_page_ends_with_the_run_folders_numbers(page, artifacts):
    import json

    page.click("#tab-train")
    expect(page.locator("#train-view")).to_be_visible()
    page.select_option("#tr-dataset", "moons")
    page.fill("#tr-samples", "300")
    page.fill("#tr-epochs", "5")
    page.fill("#tr-batch", "20")
    page.fill("#tr-lr", "0.02")
    page.click("#tr-start")
    page.wait_for_function("() => document.getElementById('train-view').dataset.state === 'done'", timeout=180_000)
    run = Path(page.text_content("#tr-run"))
    metrics = json.loads((run / "metrics.json").read_text())
    shown = json.loads(page.get_attribute("#tr-result", "data-metrics"))
    assert shown["test_acc"] == metrics["test_acc"] and (run / "model.safetensors").is_file()
    assert page.text_content("#tr-result") == f"test accuracy {metrics['test_acc'] * 100:.2f}%"
    assert page.get_attribute("#train-view", "data-epochs") == "5"
    assert page.get_attribute("#tr-boundary", "data-epoch") == "5"  # the boundary after the last epoch
    colours = page.evaluate(
        "() => { const c = document.getElementById('tr-boundary'); "
        "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; "
        "const seen = new Set(); "
        "for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]); "
        "return seen.size; }"
    )
    assert colours > 3  # two class colours, the points, not a blank canvas
    history = json.loads((run / "history.json").read_text())
    assert page.text_content("#tr-last-row").startswith(f"epoch 5: train loss {history[-1]['train_loss']:.4f}")
    expect(page.locator("#tr-start")).to_be_enabled()
    page.screenshot(path=str(artifacts / "web-train-moons.png"), full_page=True)


def test_the_backprop_view_shows_the_numbers_of_neuralnet_explain(page, artifacts):
    from neuralnet.explain import walk_through

    expected = walk_through(3).to_dict()
    page.click("#tab-backprop")
    page.wait_for_selector("body[data-backprop-loaded]")

    def values(quantity):
        return page.eval_on_selector_all(
            f'#bp-graph [data-quantity="{quantity}"]', "labels => labels.map(l => Number(l.dataset.value))"
        )

    steps = page.evaluate("() => window.neuralnetBackprop.steps()")
    assert steps == 10
    assert values("x") == expected["input"]["x"]["value"][0]
    flat = [w for row in expected["parameters"]["weight_h"]["value"] for w in row]
    assert values("before_h") == flat
    seen = {}
    for step in range(1, steps):
        page.click("#bp-next")
        assert page.get_attribute("#bp-graph", "data-step") == str(step)
        for quantity in ("z_h", "a_h", "z_out", "a_out", "delta_out", "delta_h", "loss", "gradient_h", "after_out"):
            if values(quantity):
                seen[quantity] = values(quantity)
        if step == 8:
            page.screenshot(path=str(artifacts / "web-backprop-gradients.png"))
    forward, backward = expected["forward"], expected["backward"]
    for name in ("z_h", "a_h", "z_out", "a_out"):
        assert seen[name] == forward[name]["value"][0], name
    assert seen["loss"] == [forward["loss"]["value"]]
    for name in ("delta_out", "delta_h"):
        assert seen[name] == backward[name]["value"][0], name
    assert seen["gradient_h"] == [g for row in expected["gradients"]["d_loss__dw_h"]["analytic"] for g in row]
    assert seen["after_out"] == [w for row in expected["sgd_step"]["parameters"]["weight_out"]["after"] for w in row]
    assert "w := w - eta dL/dw" in page.text_content("#bp-equation")
    expect(page.locator("#bp-next")).to_be_disabled()
    # another step, of a ReLU network with the cross-entropy
    page.select_option("#bp-activation", "relu")
    page.select_option("#bp-loss", "cross-entropy")
    page.click("#bp-form button[type=submit]")
    page.wait_for_function("() => document.body.dataset.backpropLoaded === '2'")
    relu = walk_through(3, activation="relu", loss="cross-entropy").to_dict()
    assert values("before_out") == [w for row in relu["parameters"]["weight_out"]["value"] for w in row]


def test_the_hidden_units_that_fire_for_a_drawing(page, server, predictor, artifacts):
    stroke(page, [(90, 60), (190, 60), (120, 250)])
    wait_until_answered(page)
    page.wait_for_function("() => Number(document.getElementById('activity').dataset.updates || 0) >= 1")
    wait_until_answered(page)
    shown = page.eval_on_selector_all("#activity figure", "figs => figs.map(f => Number(f.dataset.activation))")
    image = image_to_mnist(last_sent_image(server))
    expected = predictor.hidden_activations(image.reshape(1, 784))[0]
    assert len(shown) == 50
    np.testing.assert_allclose(shown, expected, rtol=1e-6)
    firing = page.eval_on_selector_all("#activity figure.firing", "figs => figs.map(f => Number(f.dataset.activation))")
    assert len(firing) == 5 and min(firing) >= np.sort(expected)[-5] - 1e-6  # the five most active units
    page.locator("#activity-panel").screenshot(path=str(artifacts / "web-hidden-activity.png"))

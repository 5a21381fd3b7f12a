// The page: a drawing pad whose picture is sent to POST /api/predict while you draw, and a
// Model view filled from GET /api/model. No mathematics here: the server crops, scales and
// centres the drawing (neuralnet.imaging) and runs the network (neuralnet.io.Predictor).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const pad = $("pad");
  const padContext = pad.getContext("2d");
  const seen = $("seen");
  const seenContext = seen.getContext("2d");
  const bars = $("bars");
  const status = $("status");

  // The pen's width follows the drawing's size, about an eighth of it (MNIST's strokes are 2 to 3
  // pixels of a 20-pixel digit), so that a small digit is not a blob once the server has scaled
  // it to 20 pixels; the pad shows exactly the picture that is sent.
  const PEN = { fraction: 0.12, min: 5, max: 20 };
  const SMALL_DRAWING = 100;   // pad pixels: a drawing smaller than this gets the hint to draw bigger
  const SURE = 0.8, LIKELY = 0.5; // the top probability from which the answer is stated, or "probably"
  let classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  let hasInk = false;
  let strokes = [];            // each stroke a list of {x, y} pad points, for the pen width and Undo
  let drawing = false;
  let last = null;
  let generation = 0;          // bumped by Clear: answers to older requests are dropped
  let inFlight = false;
  let pending = false;
  let openRequests = 0;
  let hasFilters = false;      // a convolutional network: show the feature maps of each drawing
  let hiddenUnits = 0;         // a dense first layer on the pixels: show which of its units fire
  let unitUrl = "";

  // -- the drawing pad ---------------------------------------------------------------------------
  function clearPad() {
    padContext.fillStyle = "black";
    padContext.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
    strokes = [];
    $("undo").disabled = true;
  }

  function drawingSize() {
    const points = strokes.flat();
    if (!points.length) return 0;
    const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
    return Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
  }

  function penWidth() {
    return Math.max(PEN.min, Math.min(PEN.max, PEN.fraction * drawingSize()));
  }

  function padPoint(event) {
    const box = pad.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (pad.width / box.width),
      y: (event.clientY - box.top) * (pad.height / box.height),
    };
  }

  // every stroke drawn again at the pen width of the whole drawing
  function renderStrokes() {
    padContext.fillStyle = "black";
    padContext.fillRect(0, 0, pad.width, pad.height);
    const width = penWidth();
    padContext.strokeStyle = "white";
    padContext.fillStyle = "white";
    padContext.lineWidth = width;
    padContext.lineCap = "round";
    padContext.lineJoin = "round";
    for (const points of strokes) {
      padContext.beginPath();
      if (points.length === 1) {
        padContext.arc(points[0].x, points[0].y, width / 2, 0, 2 * Math.PI);
        padContext.fill();
        continue;
      }
      padContext.moveTo(points[0].x, points[0].y);
      for (const point of points.slice(1)) padContext.lineTo(point.x, point.y);
      padContext.stroke();
    }
    hasInk = strokes.length > 0;
    $("undo").disabled = !hasInk;
  }

  function strokeTo(point) {
    if (last === null) strokes.push([point]);
    else strokes[strokes.length - 1].push(point);
    last = point;
    renderStrokes();
  }

  pad.addEventListener("pointerdown", (event) => {
    if (!event.isPrimary || event.button > 0) return;
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    drawing = true;
    last = null;
    $("upload-preview").hidden = true;
    strokeTo(padPoint(event));
    requestPrediction();
  });
  pad.addEventListener("pointermove", (event) => {
    if (!drawing || !event.isPrimary) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const each of events.length ? events : [event]) strokeTo(padPoint(each));
    requestPrediction();
  });
  function endStroke(event) {
    if (!drawing || !event.isPrimary) return;
    drawing = false;
    last = null;
    requestPrediction();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  $("clear").addEventListener("click", () => {
    generation += 1;
    clearPad();
    showNothing();
    setStatus("Cleared. Draw a digit.");
  });

  $("undo").addEventListener("click", () => {
    if (!strokes.length) return;
    generation += 1;
    strokes.pop();
    renderStrokes();
    if (strokes.length) {
      requestPrediction();
    } else {
      showNothing();
      setStatus("Nothing left to undo. Draw a digit.");
    }
  });

  // -- asking the server ---------------------------------------------------------------------------
  // At most one request in flight; strokes made meanwhile are sent as soon as it returns.
  function requestPrediction() {
    if (!hasInk) return;
    if (inFlight) { pending = true; return; }
    inFlight = true;
    pending = false;
    const asked = generation;
    pad.toBlob((blob) => {
      if (!blob) { inFlight = false; return; }
      const form = new FormData();
      form.append("file", blob, "drawing.png");
      predict(form, asked).finally(() => {
        inFlight = false;
        if (pending) requestPrediction();
      });
    }, "image/png");
  }

  // an error in words: the server's message, or that the server does not answer at all (fetch
  // itself failed); the other views' scripts use it too (window.neuralnetPage.errorText)
  function errorText(error) {
    return error instanceof TypeError
      ? "Error: the server does not answer. Is `neuralnet serve` still running?" : `Error: ${error.message}`;
  }

  async function predict(body, asked, describe) {
    let answer;
    openRequests += 1;
    try {
      const response = await fetch("/api/predict", { method: "POST", body });
      const text = await response.text();
      try { answer = JSON.parse(text); } catch { answer = { detail: text }; }
      if (!response.ok) throw new Error(answer.detail || `HTTP ${response.status}`);
    } catch (error) {
      if (asked === generation) {
        showNothing();  // no earlier answer or picture beside the error
        setStatus(errorText(error), true);
      }
      return;
    } finally {
      openRequests -= 1;
    }
    if (asked !== generation) return;
    show(answer);
    if (hasFilters) showFeatureMaps(answer.image, asked);
    if (hiddenUnits > 0) showHiddenActivity(answer.image, asked);
    setStatus(describe ? describe(answer) : capitalized(verdict(answer)) + sizeHint());
  }

  // "a 5", "an 8", "an ankle boot"
  function withArticle(label) {
    const text = String(label);
    const vowelSound = /^(8|11$|18$|1[18]\d\d$)/.test(text) || /^[aeiou]/i.test(text);
    return `${vowelSound ? "an" : "a"} ${text}`;
  }

  function capitalized(text) {
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  // the answer in words as sure as the network is: stated from SURE on, "probably" from LIKELY on
  function verdict(answer) {
    const p = answer.probabilities;
    const order = p.map((value, k) => k).sort((a, b) => p[b] - p[a]);
    const [top, second] = order;
    const name = (k) => withArticle(classes[k] ?? k);
    if (p[top] >= SURE) return `it looks like ${name(top)}.`;
    if (p[top] >= LIKELY) return `probably ${name(top)}, perhaps ${name(second)}.`;
    return `not sure: ${name(top)} or ${name(second)}?`;
  }

  function sizeHint() {
    const size = drawingSize();
    return strokes.length && size < SMALL_DRAWING ? " Draw bigger: fill most of the box, as in the digits it learned from." : "";
  }

  $("upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (!file) return;
    generation += 1;
    clearPad();
    showNothing();
    const preview = $("upload-preview");
    if (preview.src.startsWith("blob:")) URL.revokeObjectURL(preview.src);
    preview.onerror = () => { preview.hidden = true; };  // a picture the browser cannot show
    preview.src = URL.createObjectURL(file);
    const form = new FormData();
    form.append("file", file, file.name);
    setStatus(`Sending ${file.name}...`);
    const asked = generation;
    predict(form, asked, (answer) => {
      preview.hidden = false;
      return `${file.name}: ${verdict(answer)}`;
    });
    event.target.value = "";
  });

  // -- showing the answer ----------------------------------------------------------------------------
  function buildBars() {
    bars.replaceChildren();
    classes.forEach((name, k) => {
      const row = document.createElement("li");
      row.dataset.class = String(k);
      row.innerHTML = '<span class="label"></span><span class="track"><span class="fill"></span></span><span class="value"></span>';
      row.querySelector(".label").textContent = name;
      bars.appendChild(row);
    });
    showNothing();
  }

  function show(answer) {
    const rows = bars.querySelectorAll("li");
    answer.probabilities.forEach((p, k) => {
      const row = rows[k];
      if (!row) return;
      row.querySelector(".fill").style.width = `${Math.max(0, Math.min(1, p)) * 100}%`;
      row.querySelector(".value").textContent = `${(p * 100).toFixed(1)}%`;
      row.dataset.probability = String(p);
      row.classList.toggle("top", k === answer.top_class);
    });
    $("top-class").textContent = answer.label;
    $("top-class").dataset.topClass = String(answer.top_class);
    $("top-prob").textContent = `${(answer.probabilities[answer.top_class] * 100).toFixed(1)}%`;
    const image = seenContext.createImageData(28, 28);
    answer.image.forEach((v, i) => {
      image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = v;
      image.data[4 * i + 3] = 255;
    });
    seenContext.putImageData(image, 0, 0);
    bars.dataset.updates = String(Number(bars.dataset.updates) + 1);
  }

  async function showFeatureMaps(pixels, asked) {
    openRequests += 1;
    try {
      const response = await fetch("/api/feature-maps", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ pixels }),
      });
      const answer = await response.json();
      if (!response.ok || asked !== generation) return;
      $("feature-layer").textContent = answer.layer;
      const maps = $("feature-maps");
      maps.replaceChildren();
      answer.maps.forEach((url, k) => {
        const figure = element("figure");
        const img = element("img");
        img.src = url;
        img.alt = `feature map ${k}`;
        figure.append(img, element("figcaption", String(k)));
        maps.append(figure);
      });
      maps.dataset.updates = String(Number(maps.dataset.updates || 0) + 1);
    } catch (error) {
      // the maps are an extra: the answer itself is already shown
    } finally {
      openRequests -= 1;
    }
  }

  // the first hidden layer for the drawing: each unit's weight image, its activation as a bar
  async function showHiddenActivity(pixels, asked) {
    openRequests += 1;
    try {
      const response = await fetch("/api/hidden-activations", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ pixels }),
      });
      const answer = await response.json();
      if (!response.ok || asked !== generation) return;
      $("activity-layer").textContent = answer.layer;
      const values = answer.activations;
      const high = Math.max(...values), low = Math.min(answer.low, ...values);
      const ranked = values.map((v, k) => k).sort((a, b) => values[b] - values[a]);
      const firing = new Set(ranked.slice(0, Math.max(1, Math.round(values.length / 10))));
      const list = $("activity");
      if (list.children.length !== values.length) {
        list.replaceChildren();
        values.forEach((v, k) => {
          const figure = element("figure");
          const img = element("img");
          img.src = unitUrl.replace("{k}", String(k));
          img.alt = `hidden unit ${k}`;
          const bar = element("span", undefined, "activation");
          bar.append(element("span", undefined, "level"));
          figure.append(img, bar, element("figcaption", String(k)));
          list.append(figure);
        });
      }
      Array.from(list.children).forEach((figure, k) => {
        const level = high > low ? (values[k] - low) / (high - low) : 0;
        figure.querySelector(".level").style.width = `${(level * 100).toFixed(1)}%`;
        figure.dataset.activation = String(values[k]);
        figure.classList.toggle("firing", firing.has(k));
        figure.title = `unit ${k}: ${values[k].toFixed(3)}`;
      });
      list.dataset.updates = String(Number(list.dataset.updates || 0) + 1);
    } catch (error) {
      // an extra, like the feature maps: the answer itself is already shown
    } finally {
      openRequests -= 1;
    }
  }

  function showNothing() {
    bars.querySelectorAll("li").forEach((row) => {
      row.querySelector(".fill").style.width = "0";
      row.querySelector(".value").textContent = "";
      row.classList.remove("top");
      delete row.dataset.probability;
    });
    $("top-class").textContent = "\u2013";
    delete $("top-class").dataset.topClass;
    $("top-prob").textContent = "\u00a0";
    seenContext.fillStyle = "black";
    seenContext.fillRect(0, 0, 28, 28);
    $("upload-preview").hidden = true;
  }

  function setStatus(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  // -- the Model view ------------------------------------------------------------------------------
  const FIGURE_CAPTIONS = {
    loss: "Loss per epoch (the chapter's Figure 11.7)",
    accuracy: "Training and validation accuracy per epoch (Figure 11.8)",
    confusion_matrix: "Confusion matrix on the test set",
    misclassified: "Misclassified test images (Figure 11.9)",
    hidden_weights: "Hidden units' incoming weights",
    digits_per_class: "One training image per class (Figure 11.4)",
    digit_variants: "Variants of one digit (Figure 11.5)",
  };

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function percent(value) {
    return typeof value === "number" ? `${(value * 100).toFixed(2)}%` : "\u2013";
  }

  function fillModel(model) {
    $("run-name").textContent = `run ${model.run}`;
    const metrics = model.metrics || {};
    $("test-acc").textContent = percent(metrics.test_acc);
    $("n-test").textContent = metrics.n_test ?? "?";

    const arch = model.architecture || {};
    const stack = arch.layers || [];
    const dense = stack.find((spec) => spec.type === "Dense") || {};
    const describe = (spec) => ({
      Dense: () => `Dense ${spec.n_in}\u2192${spec.n_out}`,
      Activation: () => spec.name,
      Dropout: () => `dropout ${spec.p}`,
      RandomShift: () => `shift \u00b1${spec.max_shift} px`,
      Conv2D: () => `conv ${spec.in_channels}\u2192${spec.out_channels} ${spec.kernel_size.join("x")}`,
      MaxPool2D: () => `max pool ${spec.kernel_size[0]}`,
      AvgPool2D: () => `avg pool ${spec.kernel_size[0]}`,
      BatchNorm: () => "batch norm",
    }[spec.type] || (() => spec.type))();
    const facts = {
      layers: model.layers.join(" \u2192 "),
      "layer stack": stack.map(describe).join(", "),
      loss: arch.loss,
      initialization: dense.init,
      dtype: arch.dtype,
      "data (train / valid / test)": model.data ? `${model.data.train} / ${model.data.valid} / ${model.data.test}` : "\u2013",
    };
    const list = $("architecture");
    list.replaceChildren();
    for (const [key, value] of Object.entries(facts)) {
      list.append(element("dt", key), element("dd", String(value ?? "\u2013")));
    }

    // the settings that make the run first; the unset ones and the rest behind "show all"
    const MAIN_SETTINGS = ["dataset", "data", "layers", "hidden", "activation", "loss", "optimizer", "lr",
                           "schedule", "epochs", "batch_size", "dropout", "shift", "weight_decay", "seed"];
    const table = $("hyperparameters");
    table.replaceChildren();
    table.classList.remove("unfolded");
    const settings = Object.entries(model.training || {});
    const main = (key, value) => MAIN_SETTINGS.includes(key) && value !== null;
    const ordered = [...settings.filter(([k, v]) => main(k, v)), ...settings.filter(([k, v]) => !main(k, v))];
    for (const [key, value] of ordered) {
      const row = table.insertRow();
      if (!main(key, value)) row.classList.add("folded");
      const text = key === "layers" && Array.isArray(value) ? `${value.length} layers (see the layer stack)`
        : Array.isArray(value) ? value.join(", ") : String(value);
      row.append(element("th", key), element("td", text));
    }
    $("settings-all").hidden = ordered.every(([k, v]) => main(k, v));
    $("settings-all").textContent = `Show all ${ordered.length} settings`;

    const history = $("history");
    history.replaceChildren();
    const columns = [["epoch", "epoch"], ["train_loss", "train loss"], ["train_acc", "train acc"],
                     ["valid_loss", "valid loss"], ["valid_acc", "valid acc"]];
    const head = history.createTHead().insertRow();
    columns.forEach(([, title]) => head.append(element("th", title)));
    const body = history.createTBody();
    const HISTORY_SHOWN = 10;  // the last epochs; the others behind "show all"
    const hiddenRows = Math.max(0, model.history.length - HISTORY_SHOWN);
    $("history-all").hidden = hiddenRows === 0;
    $("history-all").textContent = `Show all ${model.history.length} epochs`;
    model.history.forEach((row, index) => {
      const tr = body.insertRow();
      if (index < hiddenRows) tr.classList.add("folded");
      for (const [key] of columns) {
        const value = row[key];
        const text = key.endsWith("acc") ? percent(value) : key === "epoch" ? String(value)
          : typeof value === "number" ? value.toFixed(4) : "\u2013";
        tr.append(element("td", text));
      }
    });

    const figures = $("figures");
    figures.replaceChildren();
    for (const name of Object.keys(FIGURE_CAPTIONS)) {
      const url = model.figures[name];
      if (!url) continue;
      const figure = element("figure");
      const link = element("a");
      link.href = url;
      link.target = "_blank";
      link.title = "open the figure at full size";
      const img = element("img");
      img.src = url;
      img.alt = FIGURE_CAPTIONS[name];
      img.dataset.figure = name;
      link.append(img);
      figure.append(link, element("figcaption", FIGURE_CAPTIONS[name]));
      figures.append(figure);
    }
    if (!figures.children.length) {
      figures.append(element("p", "This run folder has no figures: draw them with `neuralnet figures RUN`.", "note"));
    }

    const confusion = $("confusion");
    confusion.replaceChildren();
    const matrix = metrics.confusion_matrix;
    if (Array.isArray(matrix)) {
      const top = confusion.createTHead().insertRow();
      top.append(element("th", ""));
      model.classes.forEach((name) => top.append(element("th", name)));
      const rows = confusion.createTBody();
      matrix.forEach((counts, i) => {
        const tr = rows.insertRow();
        tr.append(element("th", model.classes[i]));
        counts.forEach((count, j) => tr.append(element("td", String(count), i === j ? "diagonal" : "")));
      });
    }

    const units = $("hidden-units");
    units.replaceChildren();
    const count = model.hidden_units.count;
    for (let k = 0; k < count; k++) {
      const figure = element("figure");
      const img = element("img");
      img.src = model.hidden_units.url.replace("{k}", String(k));
      img.alt = `hidden unit ${k}`;
      img.loading = count > 200 ? "lazy" : "eager";
      figure.append(img, element("figcaption", String(k)));
      units.append(figure);
    }

    hiddenUnits = count;
    unitUrl = model.hidden_units.url;
    $("activity-panel").hidden = count === 0;
    const filters = model.filters || { count: 0 };
    hasFilters = filters.count > 0;
    $("hidden-panel").hidden = count === 0;
    $("filters-panel").hidden = !hasFilters;
    $("feature-panel").hidden = !hasFilters;
    const filterList = $("filters");
    filterList.replaceChildren();
    for (let k = 0; k < filters.count; k++) {
      const figure = element("figure");
      const img = element("img");
      img.src = filters.url.replace("{k}", String(k));
      img.alt = `filter ${k}`;
      figure.append(img, element("figcaption", String(k)));
      filterList.append(figure);
    }

    $("output-note").textContent = arch.loss === "mse"
      ? "The bars are the chapter's sigmoid outputs, one per class; they need not sum to 100%."
      : "The bars are the softmax probabilities of the classes.";
  }

  // -- views -----------------------------------------------------------------------------------------
  const VIEWS = ["draw", "model", "train", "backprop"];

  function showView() {
    const asked = location.hash.slice(1);
    const name = VIEWS.includes(asked) ? asked : "draw";
    for (const view of VIEWS) {
      $(`${view}-view`).hidden = view !== name;
      if (view === name) $(`tab-${view}`).setAttribute("aria-current", "page");
      else $(`tab-${view}`).removeAttribute("aria-current");
    }
  }
  window.addEventListener("hashchange", showView);

  $("settings-all").addEventListener("click", () => {
    const unfolded = $("hyperparameters").classList.toggle("unfolded");
    $("settings-all").textContent = unfolded ? "Show the main settings only"
      : `Show all ${$("hyperparameters").rows.length} settings`;
  });

  $("history-all").addEventListener("click", () => {
    const table = $("history");
    const unfolded = table.classList.toggle("unfolded");
    $("history-all").textContent = unfolded ? "Show the last epochs only"
      : `Show all ${table.tBodies[0].rows.length} epochs`;
  });

  async function start() {
    clearPad();
    buildBars();
    showView();
    try {
      const response = await fetch("/api/model");
      const model = await response.json();
      if (!response.ok) throw new Error(model.detail || `HTTP ${response.status}`);
      classes = model.classes;
      buildBars();
      fillModel(model);
      document.body.dataset.modelLoaded = "true";
    } catch (error) {
      setStatus(`Could not load the model description: ${error.message}`, true);
    }
  }

  // For scripts and tests: send the pad's current picture now (after painting it from a script),
  // and whether every stroke has been answered.
  window.neuralnetPage = {
    errorText,
    requestPrediction: () => { hasInk = true; requestPrediction(); },
    isIdle: () => !drawing && !inFlight && !pending && openRequests === 0,
  };
  start();
})();

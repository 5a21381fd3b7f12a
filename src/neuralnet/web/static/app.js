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

  const STROKE_WIDTH = 20;     // on the 280 x 280 pad: about 2 pixels of the 28 x 28 image
  let classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
  let hasInk = false;
  let drawing = false;
  let last = null;
  let generation = 0;          // bumped by Clear: answers to older requests are dropped
  let inFlight = false;
  let pending = false;
  let openRequests = 0;
  let hasFilters = false;      // a convolutional network: show the feature maps of each drawing

  // -- the drawing pad ---------------------------------------------------------------------------
  function clearPad() {
    padContext.fillStyle = "black";
    padContext.fillRect(0, 0, pad.width, pad.height);
    hasInk = false;
  }

  function padPoint(event) {
    const box = pad.getBoundingClientRect();
    return {
      x: (event.clientX - box.left) * (pad.width / box.width),
      y: (event.clientY - box.top) * (pad.height / box.height),
    };
  }

  function strokeTo(point) {
    padContext.strokeStyle = "white";
    padContext.fillStyle = "white";
    padContext.lineWidth = STROKE_WIDTH;
    padContext.lineCap = "round";
    padContext.lineJoin = "round";
    if (last === null) {
      padContext.beginPath();
      padContext.arc(point.x, point.y, STROKE_WIDTH / 2, 0, 2 * Math.PI);
      padContext.fill();
    } else {
      padContext.beginPath();
      padContext.moveTo(last.x, last.y);
      padContext.lineTo(point.x, point.y);
      padContext.stroke();
    }
    last = point;
    hasInk = true;
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

  async function predict(body, asked, describe) {
    let answer;
    openRequests += 1;
    try {
      const response = await fetch("/api/predict", { method: "POST", body });
      const text = await response.text();
      try { answer = JSON.parse(text); } catch { answer = { detail: text }; }
      if (!response.ok) throw new Error(answer.detail || `HTTP ${response.status}`);
    } catch (error) {
      if (asked === generation) setStatus(`Error: ${error.message}`, true);
      return;
    } finally {
      openRequests -= 1;
    }
    if (asked !== generation) return;
    show(answer);
    if (hasFilters) showFeatureMaps(answer.image, asked);
    setStatus(describe ? describe(answer) : `It looks like a ${answer.label}.`);
  }

  $("upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (!file) return;
    generation += 1;
    clearPad();
    const preview = $("upload-preview");
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    const form = new FormData();
    form.append("file", file, file.name);
    setStatus(`Sending ${file.name}...`);
    predict(form, generation, (answer) => `${file.name}: it looks like a ${answer.label}.`);
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

    const table = $("hyperparameters");
    table.replaceChildren();
    for (const [key, value] of Object.entries(model.training || {})) {
      const row = table.insertRow();
      row.append(element("th", key), element("td", Array.isArray(value) ? value.join(", ") : String(value)));
    }

    const history = $("history");
    history.replaceChildren();
    const columns = [["epoch", "epoch"], ["train_loss", "train loss"], ["train_acc", "train acc"],
                     ["valid_loss", "valid loss"], ["valid_acc", "valid acc"]];
    const head = history.createTHead().insertRow();
    columns.forEach(([, title]) => head.append(element("th", title)));
    const body = history.createTBody();
    for (const row of model.history) {
      const tr = body.insertRow();
      for (const [key] of columns) {
        const value = row[key];
        const text = key.endsWith("acc") ? percent(value) : key === "epoch" ? String(value)
          : typeof value === "number" ? value.toFixed(4) : "\u2013";
        tr.append(element("td", text));
      }
    }

    const figures = $("figures");
    figures.replaceChildren();
    for (const name of Object.keys(FIGURE_CAPTIONS)) {
      const url = model.figures[name];
      if (!url) continue;
      const figure = element("figure");
      const img = element("img");
      img.src = url;
      img.alt = FIGURE_CAPTIONS[name];
      img.dataset.figure = name;
      figure.append(img, element("figcaption", FIGURE_CAPTIONS[name]));
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
  function showView() {
    const name = location.hash === "#model" ? "model" : "draw";
    $("draw-view").hidden = name !== "draw";
    $("model-view").hidden = name !== "model";
    $("tab-draw").toggleAttribute("aria-current", name === "draw");
    $("tab-model").toggleAttribute("aria-current", name === "model");
    if (name === "draw") $("tab-draw").setAttribute("aria-current", "page");
    if (name === "model") $("tab-model").setAttribute("aria-current", "page");
  }
  window.addEventListener("hashchange", showView);

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
    requestPrediction: () => { hasInk = true; requestPrediction(); },
    isIdle: () => !drawing && !inFlight && !pending && openRequests === 0,
  };
  start();
})();

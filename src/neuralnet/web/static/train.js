// The Train view: choose a data set, a network and the main hyper-parameters, start training,
// and watch it learn: the loss per few mini-batches and the accuracy per epoch grow on the
// curves, the 2-D problems' decision boundary is redrawn after every epoch (in the spirit of
// TensorFlow Playground), and on images the first layer's units show their weights. The run is
// trained by the server in a process of its own (POST /api/trainings) and reported as
// server-sent events (GET /api/trainings/{id}/events); it is an ordinary run folder.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const TOY = ["moons", "circles", "spirals", "blobs"];
  const PALETTE = [[47, 111, 222], [222, 106, 47], [46, 160, 90], [160, 70, 200], [200, 170, 40],
                   [40, 170, 190], [220, 60, 120], [120, 120, 120], [150, 100, 50], [20, 20, 120]];
  let training = null;   // {id, source, lastEvent, epochs, points, boundary}
  let curves = null;

  function settingsFromForm() {
    const dataset = $("tr-dataset").value;
    const settings = {
      dataset,
      epochs: Number($("tr-epochs").value),
      lr: Number($("tr-lr").value),
      batch_size: Number($("tr-batch").value),
      optimizer: $("tr-optimizer").value,
      loss: $("tr-loss").value,
      seed: Number($("tr-seed").value),
    };
    const layers = $("tr-layers").value.trim();
    if (layers) settings.layers = layers;
    else {
      settings.hidden = $("tr-hidden").value.trim().split(/[\s,x]+/).filter(Boolean).map(Number);
      settings.activation = $("tr-activation").value;
    }
    if (TOY.includes(dataset)) {
      settings.samples = Number($("tr-samples").value);
      settings.noise = Number($("tr-noise").value);
    } else if ($("tr-limit").value) {
      settings.limit = Number($("tr-limit").value);
    }
    return settings;
  }

  function showDatasetOptions() {
    const toy = TOY.includes($("tr-dataset").value);
    $("tr-toy-options").hidden = !toy;
    $("tr-image-options").hidden = toy;
  }

  function setStatus(text, isError) {
    $("tr-status").textContent = text;
    $("tr-status").classList.toggle("error", Boolean(isError));
  }

  function setButtons(state) {
    $("tr-start").disabled = state === "running" || state === "starting";
    $("tr-stop").disabled = !(state === "running" || state === "starting");
    $("tr-resume").disabled = state !== "stopped";
    $("train-view").dataset.state = state;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body ?? {}),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(answer.detail || `HTTP ${response.status}`);
    return answer;
  }

  // -- starting, stopping, resuming ------------------------------------------------------------
  $("tr-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const settings = settingsFromForm();
    setStatus("Starting...");
    try {
      const answer = await post("/api/trainings", settings);
      resetDisplays(settings);
      training = { id: answer.id, lastEvent: -1, epochs: settings.epochs, points: null };
      setButtons("starting");
      listen();
    } catch (error) {
      setStatus(window.neuralnetPage.errorText(error), true);
    }
  });

  $("tr-stop").addEventListener("click", async () => {
    if (!training) return;
    try {
      await post(`/api/trainings/${training.id}/stop`);
      setStatus("Stopping after the mini-batch under way...");
    } catch (error) {
      setStatus(window.neuralnetPage.errorText(error), true);
    }
  });

  $("tr-resume").addEventListener("click", async () => {
    if (!training) return;
    try {
      await post(`/api/trainings/${training.id}/resume`);
      setButtons("starting");
      setStatus("Resuming from the last finished epoch...");
      listen();
    } catch (error) {
      setStatus(window.neuralnetPage.errorText(error), true);
    }
  });

  function listen() {
    if (training.source) training.source.close();
    const source = new EventSource(`/api/trainings/${training.id}/events?after=${training.lastEvent}`);
    training.source = source;
    const handlers = { started, points, batch, epoch, boundary, weights, done, stopped, failed };
    for (const [kind, handler] of Object.entries(handlers)) {
      // (the server names its error events "failed": "error" is EventSource's own event)
      source.addEventListener(kind, (message) => {
        training.lastEvent = Number(message.lastEventId);
        handler(JSON.parse(message.data));
      });
    }
    source.onerror = () => {
      // the stream ends after the last event; EventSource would reconnect: not after a final one
      if (["done", "stopped", "failed"].includes($("train-view").dataset.state)) source.close();
    };
  }

  // -- the events ------------------------------------------------------------------------------
  function started(data) {
    setButtons("running");
    $("tr-run").textContent = data.run;
    setStatus(`Training ${data.run}...`);
  }

  function points(data) {
    training.points = data;
    $("tr-boundary-panel").hidden = false;
    drawBoundary(null);
  }

  function batch(data) {
    curves.loss.push([data.epoch - 1 + data.batch / data.batches, data.loss]);
    $("tr-progress").textContent = `epoch ${data.epoch} of ${training.epochs}, mini-batch ${data.batch} of ${data.batches}`;
    drawCurves();
  }

  function epoch(row) {
    curves.rows.push(row);
    $("tr-progress").textContent = `epoch ${row.epoch} of ${training.epochs} done`;
    $("tr-lr-now").textContent = row.lr.toPrecision(3);
    const last = $("tr-last-row");
    last.textContent = `epoch ${row.epoch}: train loss ${fixed(row.train_loss)}, train acc ${percent(row.train_acc)}, `
      + `valid loss ${fixed(row.valid_loss)}, valid acc ${percent(row.valid_acc)}`;
    drawCurves();
    $("train-view").dataset.epochs = String(curves.rows.length);
  }

  function boundary(data) {
    training.boundary = data.classes;
    drawBoundary(data);
  }

  function weights(data) {
    const units = $("tr-units");
    $("tr-units-panel").hidden = false;
    units.replaceChildren();
    data.units.forEach((url, k) => {
      const figure = document.createElement("figure");
      const img = document.createElement("img");
      img.src = url;
      img.alt = `unit ${k} after epoch ${data.epoch}`;
      const caption = document.createElement("figcaption");
      caption.textContent = String(k);
      figure.append(img, caption);
      units.append(figure);
    });
    units.dataset.epoch = String(data.epoch);
  }

  function done(data) {
    setButtons("done");
    const m = data.metrics;
    const result = "test_acc" in m ? `test accuracy ${percent(m.test_acc)}` : `test R^2 ${fixed(m.test_r2)}`;
    $("tr-result").textContent = result;
    $("tr-result").dataset.metrics = JSON.stringify(m);
    setStatus(`Finished: ${result}. The run folder ${data.run} can be served with \`neuralnet serve ${data.run}\`.`);
  }

  function stopped(data) {
    setButtons(data.epoch ? "stopped" : "failed");
    setStatus(data.epoch ? `Stopped after epoch ${data.epoch}: Resume trains on from there.`
      : "Stopped before the first epoch finished; start again.");
  }

  function failed(data) {
    setButtons("failed");
    setStatus(`Error: ${data.detail}`, true);
  }

  // -- drawing -------------------------------------------------------------------------------
  const fixed = (v) => (typeof v === "number" ? v.toFixed(4) : "\u2013");
  const percent = (v) => (typeof v === "number" ? `${(v * 100).toFixed(2)}%` : "\u2013");

  function resetDisplays(settings) {
    curves = { loss: [], rows: [] };
    $("tr-result").textContent = "";
    delete $("tr-result").dataset.metrics;
    $("tr-last-row").textContent = "";
    $("tr-progress").textContent = "";
    $("tr-run").textContent = "";
    $("tr-units").replaceChildren();
    $("tr-units-panel").hidden = true;
    $("tr-boundary-panel").hidden = true;
    $("train-view").dataset.epochs = "0";
    drawCurves();
    if (TOY.includes(settings.dataset)) $("tr-boundary-panel").hidden = false;
  }

  function drawCurves() {
    const canvas = $("tr-curves");
    const context = canvas.getContext("2d");
    const width = canvas.width, height = canvas.height, pad = 36;
    context.clearRect(0, 0, width, height);
    context.fillStyle = "white";
    context.fillRect(0, 0, width, height);
    if (!curves || !training) return;
    const epochs = Math.max(1, training.epochs);
    const x = (e) => pad + (width - 2 * pad) * (e / epochs);
    context.strokeStyle = "#d9dde4";
    context.strokeRect(pad, 8, width - 2 * pad, height - pad - 8);
    context.fillStyle = "#5b6475";
    context.font = "11px system-ui, sans-serif";
    context.fillText("epochs", width / 2 - 18, height - 6);
    context.fillText("0", pad - 4, height - pad + 14);
    context.fillText(String(epochs), width - pad - 6, height - pad + 14);
    // the loss, on its own scale (left)
    const losses = curves.loss.map(([, l]) => l).concat(curves.rows.map((r) => r.train_loss))
      .filter((v) => typeof v === "number");
    const top = losses.length ? Math.max(...losses) : 1;
    const yLoss = (l) => height - pad - (height - pad - 8) * (l / (top || 1));
    context.fillText(`loss (max ${top.toPrecision(2)})`, 4, 20);
    line(context, curves.loss.map(([e, l]) => [x(e), yLoss(l)]), "#9db7e8", 1);
    line(context, curves.rows.map((r) => [x(r.epoch), yLoss(r.train_loss)]), "#2f6fde", 2);
    // the accuracies, 0..100% (right)
    const yAcc = (a) => height - pad - (height - pad - 8) * a;
    context.fillText("accuracy", width - pad - 40, 20);
    line(context, curves.rows.filter((r) => typeof r.train_acc === "number").map((r) => [x(r.epoch), yAcc(r.train_acc)]), "#e07b39", 2);
    line(context, curves.rows.filter((r) => typeof r.valid_acc === "number").map((r) => [x(r.epoch), yAcc(r.valid_acc)]), "#2ea05a", 2);
  }

  function line(context, points, color, width) {
    if (!points.length) return;
    context.strokeStyle = color;
    context.fillStyle = color;
    context.lineWidth = width;
    context.beginPath();
    points.forEach(([px, py], k) => (k ? context.lineTo(px, py) : context.moveTo(px, py)));
    context.stroke();
    if (points.length === 1) context.fillRect(points[0][0] - 2, points[0][1] - 2, 4, 4);
  }

  function drawBoundary(data) {
    const canvas = $("tr-boundary");
    const context = canvas.getContext("2d");
    const size = canvas.width;
    context.fillStyle = "white";
    context.fillRect(0, 0, size, size);
    const p = training && training.points;
    if (!p) return;
    const xs = p.grid.x, ys = p.grid.y, n = xs.length;
    const toX = (v) => ((v - xs[0]) / (xs[n - 1] - xs[0])) * size;
    const toY = (v) => size - ((v - ys[0]) / (ys[ys.length - 1] - ys[0])) * size;
    if (data) {  // the plane coloured by the predicted class, lightly
      const cell = size / n;
      data.classes.forEach((k, i) => {
        const [r, g, b] = PALETTE[k % PALETTE.length];
        context.fillStyle = `rgba(${r}, ${g}, ${b}, 0.28)`;
        const col = i % n, rowIndex = Math.floor(i / n);
        context.fillRect(col * cell, size - (rowIndex + 1) * cell, cell + 0.5, cell + 0.5);
      });
      canvas.dataset.epoch = String(data.epoch);
    }
    p.X.forEach(([a, b], i) => {  // the points on top
      const [r, g, bl] = PALETTE[p.y[i] % PALETTE.length];
      context.fillStyle = `rgb(${r}, ${g}, ${bl})`;
      context.beginPath();
      context.arc(toX(a), toY(b), 2.6, 0, 2 * Math.PI);
      context.fill();
    });
  }

  $("tr-dataset").addEventListener("change", showDatasetOptions);
  showDatasetOptions();
  setButtons("idle");
  window.neuralnetTrain = { settings: settingsFromForm };
})();

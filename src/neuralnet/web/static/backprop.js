// The Backpropagation view: the chapter's small network of Figures 11.11 and 11.12 (2 inputs, 3
// hidden units, 2 outputs) drawn as a graph, and one training step walked through on it, every
// number on the graph. The numbers are GET /api/explain's, which are `neuralnet explain --json`'s:
// the engine's own layers, loss and optimizer computed them; nothing is computed here.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 720, HEIGHT = 380;
  const COLUMNS = { input: 90, hidden: 360, output: 630 };
  let walk = null;   // the JSON of one step
  let step = 0;

  const fixed = (v) => (typeof v === "number" ? v.toFixed(4) : String(v));
  const row = (quantity) => quantity.value[0];   // the first (only) example

  function node(kind, k, count) {
    const gap = HEIGHT / (count + 1);
    return { x: COLUMNS[kind], y: gap * (k + 1) };
  }

  function svgElement(tag, attributes, text) {
    const element = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // a number on the graph: its text rounded, its exact value in data-value for scripts and tests
  function label(parent, x, y, quantity, index, value, className) {
    const text = svgElement("text", { x, y, class: className || "value", "text-anchor": "middle",
                                      "data-quantity": quantity, "data-index": index, "data-value": String(value) },
                            fixed(value));
    parent.append(text);
    return text;
  }

  // Each step: what it computes, the equation as the JSON gives it, what goes on the nodes and edges.
  function steps() {
    const w = walk, f = w.forward, b = w.backward, g = w.gradients, u = w.sgd_step.parameters;
    const act = w.network.activation;
    return [
      { title: "The network, its input and its initial weights", symbol: "x, W^(h), W^(out)",
        equation: `x: ${w.input.x.equation}; W: ${w.parameters.weight_h.equation}; b: zeros`,
        input: ["x", row(w.input.x)], edges: "before", code: w.parameters.weight_h.code },
      { title: "Forward pass: the hidden layer's net input", ...describe(f.z_h),
        input: ["x", row(w.input.x)], hidden: ["z_h", row(f.z_h)], edges: "before" },
      { title: `Forward pass: the hidden activation (${act})`, ...describe(f.a_h),
        input: ["x", row(w.input.x)], hidden: ["a_h", row(f.a_h)], edges: "before" },
      { title: "Forward pass: the output layer's net input", ...describe(f.z_out),
        hidden: ["a_h", row(f.a_h)], output: ["z_out", row(f.z_out)], edges: "before" },
      { title: "Forward pass: the output activation", ...describe(f.a_out),
        hidden: ["a_h", row(f.a_h)], output: ["a_out", row(f.a_out)], targets: true, edges: "before" },
      { title: "The loss", ...describe(f.loss), output: ["a_out", row(f.a_out)], targets: true, loss: true,
        edges: "before" },
      { title: "Backward pass: the output delta", ...describe(b.delta_out),
        output: ["delta_out", row(b.delta_out)], edges: "before" },
      { title: "Backward pass: the hidden delta", ...describe(b.delta_h),
        hidden: ["delta_h", row(b.delta_h)], output: ["delta_out", row(b.delta_out)], edges: "before" },
      { title: "The gradients of the loss with respect to the weights", symbol: "dL/dW^(out), dL/dW^(h)",
        equation: `${g.d_loss__dw_out.equation}; ${g.d_loss__dw_h.equation}`, code: g.d_loss__dw_out.code,
        hidden: ["delta_h", row(b.delta_h)], output: ["delta_out", row(b.delta_out)], edges: "gradient",
        check: w.gradient_check },
      { title: "The SGD update", symbol: "W", equation: `${w.sgd_step.rule}, eta = ${w.sgd_step.lr}`,
        code: w.sgd_step.code, edges: "after", updated: u },
    ];
  }

  function describe(quantity) {
    return { symbol: quantity.symbol, equation: quantity.equation, code: quantity.code };
  }

  function edgeValues(kind, layer) {
    // layer "h": W^(h) [n_hidden, n_features]; "out": W^(out) [n_classes, n_hidden]
    const name = layer === "h" ? "weight_h" : "weight_out";
    if (kind === "gradient") return walk.gradients[layer === "h" ? "d_loss__dw_h" : "d_loss__dw_out"].analytic;
    if (kind === "after") return walk.sgd_step.parameters[name].after;
    return walk.parameters[name].value;
  }

  function draw() {
    const s = steps()[step];
    const graph = $("bp-graph");
    graph.replaceChildren();
    const net = walk.network;
    const counts = { input: net.n_features, hidden: net.n_hidden, output: net.n_classes };
    const edgeKind = s.edges;
    const edgeName = { before: "weight", gradient: "gradient", after: "updated weight" }[edgeKind];
    // edges with their numbers, one layer at a time
    for (const [from, to, layer] of [["input", "hidden", "h"], ["hidden", "output", "out"]]) {
      const values = edgeValues(edgeKind, layer);
      for (let j = 0; j < counts[to]; j++) {
        for (let i = 0; i < counts[from]; i++) {
          const a = node(from, i, counts[from]), c = node(to, j, counts[to]);
          graph.append(svgElement("line", { x1: a.x + 26, y1: a.y, x2: c.x - 26, y2: c.y, class: `edge ${edgeKind}` }));
          // each edge's number at its own distance along the edge, so that crossing edges' numbers part
          const k = j * counts[from] + i, edges = counts[from] * counts[to];
          const t = 0.2 + 0.6 * (edges > 1 ? k / (edges - 1) : 0.5);
          const x = a.x + 26 + (c.x - a.x - 52) * t, y = a.y + (c.y - a.y) * t - 4;
          label(graph, x, y, `${edgeKind}_${layer}`, `${j},${i}`, values[j][i], `edge-value ${edgeKind}`);
        }
      }
    }
    // nodes, with the step's quantity inside
    for (const [kind, count] of Object.entries(counts)) {
      for (let k = 0; k < count; k++) {
        const p = node(kind, k, count);
        graph.append(svgElement("circle", { cx: p.x, cy: p.y, r: 26, class: `node ${kind}` }));
        const name = { input: "x", hidden: "h", output: "o" }[kind] + (k + 1);
        graph.append(svgElement("text", { x: p.x, y: p.y - 32, class: "node-name", "text-anchor": "middle" }, name));
        const shown = s[kind];
        if (shown) label(graph, p.x, p.y + 5, shown[0], String(k), shown[1][k]);
        if (kind === "output" && s.targets) {
          const y = row(walk.input.y)[k];
          label(graph, p.x + 58, p.y + 5, "y", String(k), y, "value target");
        }
      }
    }
    for (const [kind, title] of [["input", "input x"], ["hidden", "hidden layer"], ["output", "output layer"]]) {
      graph.append(svgElement("text", { x: COLUMNS[kind], y: HEIGHT - 8, class: "column-name", "text-anchor": "middle" },
                              title));
    }
    if (s.loss) {
      graph.append(svgElement("text", { x: COLUMNS.output - 48, y: 24, class: "value loss", "text-anchor": "end" }, "L ="));
      label(graph, COLUMNS.output, 24, "loss", "0", walk.forward.loss.value, "value loss");
    }

    $("bp-step").textContent = `Step ${step + 1} of ${steps().length}`;
    $("bp-title").textContent = s.title;
    $("bp-equation").textContent = `${s.symbol} = ${s.equation}`;
    $("bp-code").textContent = s.code ? `computed by ${s.code}` : "";
    $("bp-edges").textContent = `The numbers on the edges: each ${edgeName} w_ji (from unit i to unit j).`;
    $("bp-check").textContent = s.check
      ? `Finite differences agree: largest relative error ${s.check.max_relative_error.toExponential(1)} `
        + `(tolerance ${s.check.relative_tolerance.toExponential(0)}).` : "";
    $("bp-prev").disabled = step === 0;
    $("bp-next").disabled = step === steps().length - 1;
    graph.dataset.step = String(step);
  }

  async function load() {
    const params = new URLSearchParams({
      activation: $("bp-activation").value, loss: $("bp-loss").value, seed: $("bp-seed").value,
    });
    $("bp-status").textContent = "";
    try {
      const response = await fetch(`/api/explain?${params}`);
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.detail || `HTTP ${response.status}`);
      walk = answer;
      step = 0;
      draw();
      document.body.dataset.backpropLoaded = String(Number(document.body.dataset.backpropLoaded || 0) + 1);
    } catch (error) {
      $("bp-status").textContent = window.neuralnetPage.errorText(error);
    }
  }

  $("bp-prev").addEventListener("click", () => { if (walk && step > 0) { step -= 1; draw(); } });
  $("bp-next").addEventListener("click", () => { if (walk && step < steps().length - 1) { step += 1; draw(); } });
  $("bp-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  window.addEventListener("keydown", (event) => {
    if ($("backprop-view").hidden || !walk || event.target.closest("input, select")) return;
    if (event.key === "ArrowRight") $("bp-next").click();
    if (event.key === "ArrowLeft") $("bp-prev").click();
  });
  $("bp-graph").setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  window.neuralnetBackprop = { load, steps: () => (walk ? steps().length : 0) };
  window.addEventListener("hashchange", () => { if (location.hash === "#backprop" && !walk) load(); });
  if (location.hash === "#backprop") load();
})();

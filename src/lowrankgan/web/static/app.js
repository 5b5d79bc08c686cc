// lowrankgan serve: the page. Plain JS, no build step. It draws the region and calls the server's
// API (which calls lowrankgan's Python API); it computes nothing itself.
"use strict";

const $ = (id) => document.getElementById(id);

const state = {
  config: null,
  info: null,          // /api/model answer: resolution, presets, slider_max, ...
  mask: null,          // Uint8Array res*res, 1 = region
  tool: "brush",
  erase: false,
  dirty: true,         // region drawn since the last compute
  result: null,        // {result, k, ...} from the compute job
  photo: null,         // the uploaded photo being edited instead of a seed (photo.js)
  alphas: [],
  originalUrl: null,
  shownAlphas: "",     // alphas of the image on screen ("" = the original)
  shownSteps: 0,       // path steps of the image on screen (0 = straight line)
  wantPath: false,     // false while a slider is dragged: the straight line renders live
  inflight: false,
  inflightKey: "",
  controller: null,    // aborts a path render that a newer request supersedes
  pending: false,
  retry: false,
  pathBusy: 0,         // path requests (image, strip) in flight
  renders: [],         // render latencies in ms (read by the browser test)
  pathRenders: [],     // path-following render latencies in ms
};

// ---------------------------------------------------------------------------------- helpers
function message(text, isError = false) {
  const el = $("message");
  el.textContent = text || "";
  el.classList.toggle("error", !!isError);
}

// The server's per-run token, written into this page's HTML: every API request carries it, which a
// foreign page (that cannot read this HTML) cannot do.
const TOKEN = document.querySelector('meta[name="lowrankgan-token"]').content;

async function api(url, options = {}) {
  const headers = { ...(options.headers || {}), "X-LowRankGAN-Token": TOKEN };
  const resp = await fetch(url, { ...options, headers });
  if (!resp.ok) {
    let text = `${resp.status} ${resp.statusText}`;
    try { text = (await resp.json()).error || text; } catch (e) { /* not JSON */ }
    const err = new Error(text);
    err.status = resp.status;
    throw err;
  }
  return resp;
}

function option(value, text = value, title = "") {
  const opt = document.createElement("option");
  opt.value = value;
  opt.textContent = text;
  if (title) opt.title = title;
  return opt;
}

function query(params) {
  // URLs that <img> and download links load (no headers there) carry the token as a parameter.
  return Object.entries({ ...params, token: TOKEN })
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
}

function modelParams() {
  const cls = $("class-field").hidden ? "" : $("class").value;
  return { model: $("model").value, class: cls, ...transformParams() };  // transform.js
}

function seed() {
  return Number($("seed").value);  // validateInputs() has checked it before any use
}

// The image being edited: the seed, or an uploaded photo's code (photo.js); every request names it.
function subject() {
  return state.photo ? { photo: state.photo.photo } : { seed: seed() };
}
function subjectKey(s = subject()) {
  return s.photo ? `photo:${s.photo}` : `seed:${s.seed}`;
}

function alphaText() {
  return state.alphas.map((a) => +a.toFixed(4)).join(",");
}

// Path steps as typed (the server checks 0..8); 0 = straight line.
function pathSteps() {
  const v = parseInt($("path-steps").value, 10);
  return Number.isFinite(v) ? v : 0;
}

// The steps the image on screen should have: the straight line while a slider is dragged.
function desiredSteps() {
  return state.wantPath ? pathSteps() : 0;
}

function pathStatus(delta) {
  state.pathBusy = Math.max(0, state.pathBusy + delta);
  $("path-status").textContent = state.pathBusy ? "following path…" : "";
}

function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error("image failed to load"));
    img.src = url;
  });
}

// ---------------------------------------------------------------------------------- model & image
async function loadConfig() {
  state.config = await (await api("/api/config")).json();
  buildMethods();
  const select = $("model");
  select.innerHTML = "";
  for (const m of state.config.models) {
    select.appendChild(option(m.name, m.name, m.description));
  }
  select.value = state.config.default_model;
  if (state.config.default_class) state.pendingClass = state.config.default_class;
}

async function loadModel(keepClass = false) {
  message("loading model…");
  const params = modelParams();
  if (!keepClass) params.class = "";
  if (state.pendingClass) { params.class = state.pendingClass; state.pendingClass = null; }
  const previous = state.info;
  const info = await (await api(`/api/model?${query(params)}`)).json();
  state.info = info;
  showTransform(info);
  const clsSelect = $("class");
  $("class-field").hidden = info.classes.length === 0;
  if (info.classes.length) {
    clsSelect.innerHTML = "";
    for (const c of info.classes) {
      clsSelect.appendChild(option(c));
    }
  }
  if (info.class) clsSelect.value = info.class;
  const preset = $("preset");
  preset.innerHTML = '<option value="">Preset…</option>';
  for (const name of Object.keys(info.presets)) {
    preset.appendChild(option(name));
  }
  preset.disabled = Object.keys(info.presets).length === 0;
  const sameModel = previous && previous.model === info.model && previous.resolution === info.resolution;
  if (!sameModel) {
    state.mask = new Uint8Array(info.resolution * info.resolution);
    maskHistory.undo = []; maskHistory.redo = [];  // snapshots of another resolution cannot come back
  }
  state.dirty = true;
  $("region-hint").textContent = regionSummary();
  clearResult();
  $("model").title = info.description;
  message(`${info.model}: ${info.resolution}×${info.resolution}, latent d=${info.latent_dim}`);
  await loadSeed();
}

async function loadSeed() {
  if (!validateInputs()) return;
  if (state.result && subjectKey() !== subjectKey(state.result)) staleBecause(state.photo ? "Photo" : "Seed");
  loadFacePresets();
  const url = `/api/image?${query({ ...modelParams(), ...subject() })}`;
  const resp = await api(url);
  if (state.originalUrl) URL.revokeObjectURL(state.originalUrl);
  state.originalUrl = URL.createObjectURL(await resp.blob());
  state.shownAlphas = "";
  state.wantPath = pathSteps() > 0;
  if (state.result && !state.stale && state.alphas.some((a) => a !== 0)) {
    requestRender();
  } else {
    await loadImage($("image"), state.originalUrl);
    state.shownAlphas = state.result ? alphaText() : "";
    state.shownSteps = desiredSteps();
  }
  updateDownloads();
  if (state.result && !$("strip").hidden) refreshStrip();
  drawOverlay();
}

// ---------------------------------------------------------------------------------- drawing
const overlay = $("overlay");
const octx = overlay.getContext("2d");
let drag = null;

function resizeOverlay() {
  const rect = overlay.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  overlay.width = Math.max(1, Math.round(rect.width * dpr));
  overlay.height = Math.max(1, Math.round(rect.height * dpr));
  drawOverlay();
}

function drawOverlay(preview = null) {
  const W = overlay.width, H = overlay.height;
  octx.clearRect(0, 0, W, H);
  if (!state.mask) return;
  const res = state.info.resolution;
  const cw = W / res, ch = H / res;
  const fill = state.dirty || !state.result;
  const outline = fill || $("outline").checked;
  const m = state.mask;
  if (fill) {
    octx.fillStyle = "rgba(0, 200, 255, 0.35)";
    for (let y = 0; y < res; y++) {
      for (let x = 0; x < res; x++) {
        if (m[y * res + x]) octx.fillRect(Math.floor(x * cw), Math.floor(y * ch), Math.ceil(cw), Math.ceil(ch));
      }
    }
  }
  if (outline) {
    octx.strokeStyle = "#00ff78";
    octx.lineWidth = Math.max(1.5, (window.devicePixelRatio || 1) * 1.5);
    octx.beginPath();
    for (let y = 0; y < res; y++) {
      for (let x = 0; x < res; x++) {
        if (!m[y * res + x]) continue;
        const x0 = x * cw, y0 = y * ch, x1 = x0 + cw, y1 = y0 + ch;
        if (y === 0 || !m[(y - 1) * res + x]) { octx.moveTo(x0, y0); octx.lineTo(x1, y0); }
        if (y === res - 1 || !m[(y + 1) * res + x]) { octx.moveTo(x0, y1); octx.lineTo(x1, y1); }
        if (x === 0 || !m[y * res + x - 1]) { octx.moveTo(x0, y0); octx.lineTo(x0, y1); }
        if (x === res - 1 || !m[y * res + x + 1]) { octx.moveTo(x1, y0); octx.lineTo(x1, y1); }
      }
    }
    octx.stroke();
  }
  if (preview) {
    const [t, l, b, r] = preview;
    octx.setLineDash([6, 4]);
    octx.strokeStyle = state.erase ? "#ff6b6b" : "#ffffff";
    octx.lineWidth = 2;
    octx.strokeRect(l * cw, t * ch, (r - l + 1) * cw, (b - t + 1) * ch);
    octx.setLineDash([]);
  }
}

function cellAt(event) {
  const rect = overlay.getBoundingClientRect();
  const res = state.info.resolution;
  const x = Math.floor(((event.clientX - rect.left) / rect.width) * res);
  const y = Math.floor(((event.clientY - rect.top) / rect.height) * res);
  return [Math.min(res - 1, Math.max(0, y)), Math.min(res - 1, Math.max(0, x))];
}

function paintDisc(cy, cx) {
  const res = state.info.resolution;
  const r = parseInt($("brush-size").value, 10) * (res / 64) / 2;
  const value = state.erase ? 0 : 1;
  const r2 = Math.max(0.25, r * r);
  for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
    for (let x = Math.floor(cx - r); x <= Math.ceil(cx + r); x++) {
      if (y < 0 || x < 0 || y >= res || x >= res) continue;
      if ((y - cy) ** 2 + (x - cx) ** 2 <= r2) state.mask[y * res + x] = value;
    }
  }
}

function paintLine(a, b) {
  const steps = Math.max(1, Math.ceil(Math.hypot(b[0] - a[0], b[1] - a[1])));
  for (let i = 0; i <= steps; i++) {
    paintDisc(a[0] + ((b[0] - a[0]) * i) / steps, a[1] + ((b[1] - a[1]) * i) / steps);
  }
}

function markDirty() {
  state.dirty = true;
  const back = state.result && state.computedMask && state.staleWhy === "Region" &&
    state.mask.every((v, i) => v === state.computedMask[i]);
  if (back) {  // undone (or cancelled) back to the computed region: the result is current again
    state.dirty = false;
    setStale(false);
    requestRender();
  } else {
    staleBecause("Region");
  }
  $("region-hint").textContent = regionSummary();
}

function regionSummary() {
  const n = state.mask.reduce((s, v) => s + v, 0);
  if (!n) return "Draw on the image to mark the part to edit.";
  const pct = (100 * n) / state.mask.length;
  return `Region: ${n} pixels (${pct.toFixed(1)}% of the image).`;
}

overlay.addEventListener("pointerdown", (event) => {
  if (!state.mask) return;
  overlay.setPointerCapture(event.pointerId);
  const cell = cellAt(event);
  snapshot();
  drag = { start: cell, last: cell, before: state.mask.slice() };
  if (state.tool === "brush") { paintDisc(...cell); markDirty(); }
  drawOverlay();
});
overlay.addEventListener("pointermove", (event) => {
  if (!drag) return;
  const cell = cellAt(event);
  if (state.tool === "brush") {
    paintLine(drag.last, cell);
    drag.last = cell;
    markDirty();
    drawOverlay();
  } else {
    drag.last = cell;
    drawOverlay(rectOf(drag.start, cell));
  }
});
function endDrag(event) {
  if (!drag) return;
  if (state.tool === "rect") {
    const [t, l, b, r] = rectOf(drag.start, cellAt(event));
    const res = state.info.resolution;
    for (let y = t; y <= b; y++) for (let x = l; x <= r; x++) state.mask[y * res + x] = state.erase ? 0 : 1;
    markDirty();
  }
  drag = null;
  drawOverlay();
}
overlay.addEventListener("pointerup", endDrag);
overlay.addEventListener("pointercancel", () => { drag = null; drawOverlay(); });

function rectOf(a, b) {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
}

for (const button of document.querySelectorAll(".tool")) {
  button.addEventListener("click", () => {
    state.tool = button.dataset.tool;
    for (const b of document.querySelectorAll(".tool")) b.classList.toggle("active", b === button);
  });
}
$("erase").addEventListener("click", () => {
  state.erase = !state.erase;
  $("erase").setAttribute("aria-pressed", String(state.erase));
});
$("brush-size").addEventListener("input", () => { $("brush-size-value").textContent = $("brush-size").value; });
$("clear").addEventListener("click", () => { snapshot(); state.mask.fill(0); markDirty(); drawOverlay(); });
$("preset").addEventListener("change", () => {
  const name = $("preset").value;
  const bits = name.startsWith("face:") ? (state.facePresets || {})[name.slice(5)] : state.info.presets[name];
  if (bits) {
    snapshot();
    for (let i = 0; i < bits.length; i++) if (bits[i] === "1") state.mask[i] = state.erase ? 0 : 1;
    markDirty();
    drawOverlay();
  }
  $("preset").value = "";
});
$("outline").addEventListener("change", () => {
  drawOverlay();
  updateDownloads();
  if (state.result && !$("strip").hidden) refreshStrip();
});

// ---------------------------------------------------------------------------------- compute
// Method choices and their parameter fields come from the server's method registry (/api/config).
function buildMethods() {
  const select = $("method");
  select.replaceChildren();
  for (const m of state.config.methods) {
    select.append(option(m.name, m.name, m.summary));
  }
  buildParams();
}

function buildParams() {
  const box = $("method-params");
  box.replaceChildren();
  const m = state.config.methods.find((x) => x.name === $("method").value);
  for (const p of (m ? m.params : [])) {
    const label = document.createElement("label");
    label.className = "field";
    label.title = p.help;
    label.append(p.name);
    let input;
    if (p.choices.length) {
      input = document.createElement("select");
      for (const c of p.choices) {
        input.append(option(c));
      }
      input.value = p.default;
    } else {
      input = document.createElement("input");
      input.type = "number";
      input.step = p.type === "int" ? "1" : "any";
      if (p.low !== null) input.min = p.low;
      if (p.high !== null) input.max = p.high;
      input.placeholder = String(p.default);
    }
    input.id = `p-${p.name}`;
    input.dataset.param = p.name;
    input.dataset.kind = p.type;
    label.append(input);
    box.append(label);
  }
  validateInputs();
}
$("method").addEventListener("change", buildParams);

function methodParams() {
  const params = {};
  for (const input of $("method-params").querySelectorAll("[data-param]")) {
    const v = input.value;
    if (v !== "") params[input.dataset.param] = input.dataset.kind === "str" ? v : Number(v);
  }
  return params;
}

function progress(stage, elapsed, isError = false) {
  const el = $("progress");
  el.hidden = false;
  el.classList.toggle("error", isError);
  $("progress-stage").textContent = stage;
  $("progress-time").textContent = elapsed === null ? "" : `${elapsed.toFixed(1)} s`;
}

async function compute() {
  if (!validateInputs()) return;
  const button = $("compute");
  button.disabled = true;
  state.computing = true;
  const t0 = performance.now();
  progress("sending the region…", 0);
  try {
    const body = {
      ...modelParams(), ...subject(), mask: Array.prototype.join.call(state.mask, ""),
      method: $("method").value, top_k: parseInt($("top-k").value, 10) || 5, params: methodParams(),
    };
    let job = await (await api("/api/compute", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    })).json();
    while (job.state === "queued" || job.state === "running") {
      progress(job.stage, (performance.now() - t0) / 1000);
      await new Promise((r) => setTimeout(r, 100));
      job = await (await api(`/api/jobs/${job.job}`)).json();
    }
    if (job.state === "error") throw new Error(job.error);
    const seconds = (performance.now() - t0) / 1000;
    state.computeSeconds = seconds;
    showResult(job.result, seconds);
    $("progress").hidden = true;
  } catch (err) {
    progress(err.message, null, true);
  } finally {
    state.computing = false;
    validateInputs();
  }
}
$("compute").addEventListener("click", compute);

function clearResult() {
  state.result = null;
  state.alphas = [];
  $("sliders").innerHTML = "";
  $("reset").hidden = true;
  $("strip-apply").disabled = true;
  $("strip").hidden = true;
  $("result-info").textContent = "Draw a region and press “Compute directions”: one slider per direction found.";
  $("warnings").hidden = true;
  $("readout").textContent = "";
  setStale(false);
  updateDownloads();
}

// Slider position t in [-1, 1] -> raw strength: the ends are calibrated per direction and sign so
// that the region changes by RMS slider_target there (the model's ±span where unreached).
function strengthAt(i, t) {
  const d = (state.result.directions || [])[i] || {};
  const span = state.info.slider_max;
  return t >= 0 ? t * (d.plus || span) : t * (d.minus || span);
}

function leakText(d) {
  if (!d || d.leak === null || d.leak === undefined) return "leak —";
  return `leak ${d.leak.toFixed(2)}`;
}

function showResult(result, seconds) {
  state.result = result;
  state.dirty = false;
  state.computedMask = state.mask.slice();
  setStale(false);
  state.wantPath = pathSteps() > 0;
  state.alphas = new Array(result.k).fill(0);
  const box = $("sliders");
  box.innerHTML = "";
  for (let i = 0; i < result.k; i++) {
    const d = (result.directions || [])[i];
    const row = document.createElement("div");
    row.className = "slider";
    const label = document.createElement("label");
    label.textContent = `d${i + 1}`;
    label.htmlFor = `slider-${i}`;
    const input = document.createElement("input");
    Object.assign(input, { type: "range", id: `slider-${i}`, min: -1, max: 1, step: 0.01, value: 0 });
    const out = document.createElement("output");
    out.textContent = "0.00";
    out.title = "raw strength α along this direction";
    const leak = document.createElement("span");
    leak.className = "leak" + (d && d.leak !== null && d.leak < 0.5 ? " good" : " bad");
    leak.id = `leak-${i}`;
    leak.textContent = leakText(d);
    leak.title = "RMS change outside ÷ inside the region at a small edit (lower = more local; about 1 = global)";
    input.title = `ends: α = −${((d && d.minus) || state.info.slider_max).toFixed(2)} … ` +
      `+${((d && d.plus) || state.info.slider_max).toFixed(2)} (region RMS change ${result.slider_target})`;
    input.addEventListener("input", () => {
      state.alphas[i] = strengthAt(i, parseFloat(input.value));
      out.textContent = state.alphas[i].toFixed(2);
      state.wantPath = false;  // live: the straight line while dragging
      requestRender();
    });
    input.addEventListener("change", () => {  // released: follow the path when path steps > 0
      state.wantPath = pathSteps() > 0;
      if (state.wantPath) requestRender();
    });
    input.addEventListener("dblclick", () => {
      input.value = 0;
      input.dispatchEvent(new Event("input"));
      input.dispatchEvent(new Event("change"));
    });
    row.append(label, input, out, leak);
    box.appendChild(row);
  }
  $("reset").hidden = false;
  $("strip-apply").disabled = false;
  const info = result.info || {};
  const ranks = info.rank_region !== undefined ? ` · ranks region/rest ${info.rank_region}/${info.rank_rest}` : "";
  $("result-info").textContent =
    `${result.k} directions (${result.method}) from ${result.photo ? "the photo" : `seed ${result.seed}`}${ranks} · ${seconds.toFixed(2)} s. ` +
    `Slider ends change the region by RMS ${result.slider_target}; double-click resets.`;
  const warn = $("warnings");
  warn.replaceChildren(...(result.warnings || []).map((w) => {
    const li = document.createElement("li");
    li.textContent = w;
    return li;
  }));
  warn.hidden = !(result.warnings || []).length;
  $("readout").textContent = "";
  updateDownloads();
  drawOverlay();
  requestRender();
}

$("reset").addEventListener("click", () => {
  state.alphas = state.alphas.map(() => 0);
  for (const input of document.querySelectorAll("#sliders input")) {
    input.value = 0;
    input.nextSibling.textContent = "0.00";
  }
  $("readout").textContent = "";
  state.wantPath = pathSteps() > 0;
  requestRender();
});

$("path-steps").addEventListener("change", () => {
  if (!validateInputs()) return;
  state.wantPath = pathSteps() > 0;
  updateDownloads();
  requestRender();
});

// ---------------------------------------------------------------------------------- rendering
function renderUrl(extra = {}) {
  return `/api/render?${query({ result: state.result.result, ...subject(), alphas: alphaText(), ...extra })}`;
}

function renderKey(steps) {
  return `${subjectKey()}|${alphaText()}|${steps}`;
}

// One render at a time; a request during a render waits (pending) for it, except that a newer
// request supersedes (aborts) a path render in flight, which takes a Jacobian per step.
function requestRender() {
  if (!state.result) return;
  if (state.inflight) {
    const key = renderKey(desiredSteps());
    if (key === state.inflightKey) return;
    state.pending = true;
    if (state.controller) state.controller.abort();
    return;
  }
  doRender();
}

async function doRender() {
  const steps = desiredSteps();
  const alphas = alphaText();
  const controller = steps > 0 ? new AbortController() : null;
  Object.assign(state, { inflight: true, pending: false, retry: false, inflightKey: renderKey(steps), controller });
  if (steps > 0) pathStatus(+1);
  const t0 = performance.now();
  try {
    const url = renderUrl({ path_steps: steps || "" });
    const resp = await api(url, controller ? { signal: controller.signal } : {});
    const blob = await resp.blob();
    if (controller && controller.signal.aborted) throw new DOMException("superseded", "AbortError");
    showReadout(resp.headers.get("X-Change-Inside"), resp.headers.get("X-Change-Outside"));
    const img = $("image");
    const old = img.src;
    await loadImage(img, URL.createObjectURL(blob));
    if (old.startsWith("blob:") && old !== state.originalUrl) URL.revokeObjectURL(old);
    state.shownAlphas = alphas;
    state.shownSteps = steps;
    drawHeat();
    const ms = performance.now() - t0;
    (steps > 0 ? state.pathRenders : state.renders).push(ms);
    $("render-time").textContent = steps > 0 ? `path (${steps} steps) in ${ms.toFixed(0)} ms`
      : `rendered in ${ms.toFixed(0)} ms`;
  } catch (err) {
    if (err.name === "AbortError") { /* a newer request superseded it: pending is set */ }
    else if (err.status === 429) state.retry = true;  // render slots busy: try again shortly
    else message(err.message, true);
  } finally {
    state.inflight = false;
    state.inflightKey = "";
    state.controller = null;
    if (steps > 0) pathStatus(-1);
  }
  updateDownloads();
  if (state.pending) setTimeout(requestRender, 0);
  else if (state.retry) setTimeout(() => { state.retry = false; requestRender(); }, 200);
  else scheduleStrip();
}

let stripTimer = null;
function scheduleStrip() {
  if ($("strip").hidden) return;
  clearTimeout(stripTimer);
  stripTimer = setTimeout(refreshStrip, 250);
}

let stripController = null;
async function refreshStrip() {
  if (!state.result) return;
  if (stripController) stripController.abort();  // the newest strip supersedes an older one
  const controller = new AbortController();
  stripController = controller;
  const steps = desiredSteps();
  if (steps > 0) pathStatus(+1);
  try {
    const url = `/api/strip?${query({
      result: state.result.result, seeds: $("strip-seeds").value, alphas: alphaText(),
      outline: $("outline").checked ? 1 : 0, path_steps: steps || "",
    })}`;
    const blob = await (await api(url, { signal: controller.signal })).blob();
    if (controller.signal.aborted) return;
    const img = $("strip");
    const old = img.src;
    await loadImage(img, URL.createObjectURL(blob));
    if (old.startsWith("blob:")) URL.revokeObjectURL(old);
    img.hidden = false;
  } catch (err) {
    if (err.name !== "AbortError") fieldError($("strip-seeds"), err.message);  // next to the seeds
  } finally {
    if (stripController === controller) stripController = null;
    if (steps > 0) pathStatus(-1);
  }
}
$("strip-apply").addEventListener("click", () => {
  if (!validateInputs()) return; $("strip").hidden = false; refreshStrip(); });
$("strip-seeds").addEventListener("keydown", (e) => { if (e.key === "Enter" && state.result) $("strip-apply").click(); });

function updateDownloads() {
  const on = !!state.result && !state.stale;
  for (const id of ["dl-png", "dl-gif", "dl-dirs"]) $(id).classList.toggle("disabled", !on);
  if (typeof photoDownloads === "function") photoDownloads(on);
  if (!on) return;
  const outline = $("outline").checked ? 1 : 0;
  const steps = pathSteps() || "";  // the downloads follow the path when path steps > 0
  $("dl-png").href = renderUrl({ download: 1, path_steps: steps });
  $("dl-gif").href = `/api/gif?${query({
    result: state.result.result, ...subject(), alphas: alphaText(), outline, path_steps: steps,
  })}`;
  $("dl-dirs").href = `/api/directions?${query({ result: state.result.result, alphas: alphaText(), path_steps: steps })}`;
}

// Hold to compare with the original (or hold the O key).
$("compare").addEventListener("pointerdown", () => holdOriginal(true));
for (const ev of ["pointerup", "pointerleave"]) $("compare").addEventListener(ev, () => holdOriginal(false));

// Presets that follow this seed's face (face models): added to the preset list as "… (this face)".
async function loadFacePresets() {
  const ticket = (state.faceTicket = (state.faceTicket || 0) + 1);  // the latest seed's answer wins
  const forSeed = state.photo ? subjectKey() : seed();
  state.facePresets = {};
  state.facePresetSeed = null;
  const select = $("preset");
  // The previous face's entries stay (disabled) until this face's arrive: the list keeps its size.
  for (const opt of select.options) if (opt.value.startsWith("face:")) opt.disabled = true;
  try {
    const data = await (await api(`/api/face-presets?${query({ ...modelParams(), ...subject() })}`)).json();
    if (ticket !== state.faceTicket) return;
    for (const opt of [...select.options]) if (opt.value.startsWith("face:")) opt.remove();
    state.facePresets = data.presets;
    state.facePresetSeed = forSeed;
    for (const name of Object.keys(data.presets).reverse()) {
      const opt = option(`face:${name}`, `${name} (this face)`,
                         `${data.specs[name]}: laid out on ${state.photo ? "the photo" : `seed ${forSeed}`}'s own eyes and mouth`);
      select.insertBefore(opt, select.options[1] || null);
    }
    select.disabled = select.options.length <= 1;
  } catch (err) { /* the fixed presets remain */ }
}

// ---------------------------------------------------------------------------------- seeds & models
async function guarded(fn) {
  try { await fn(); } catch (err) { message(err.message, true); }
}
$("seed").addEventListener("change", () => guarded(loadSeed));
$("seed-prev").addEventListener("click", () => { $("seed").value = Math.max(0, seed() - 1); guarded(loadSeed); });
$("seed-next").addEventListener("click", () => { $("seed").value = seed() + 1; guarded(loadSeed); });
$("seed-random").addEventListener("click", () => {
  $("seed").value = Math.floor(Math.random() * 100000);
  guarded(loadSeed);
});
$("model").addEventListener("change", () => guarded(() => loadModel(false)));
$("class").addEventListener("change", () => guarded(() => loadModel(true)));
window.addEventListener("resize", resizeOverlay);

// For the browser test (and the curious): whether the shown image matches the sliders.
window.lrg = {
  state,
  idle: () => !state.inflight && !state.pending && !state.retry &&
    (!state.result || (state.shownAlphas === alphaText() && state.shownSteps === desiredSteps())),
};

guarded(async () => {
  await loadConfig();
  resizeOverlay();
  await loadModel();
  resizeOverlay();
});

// ---------------------------------------------------------------------------------- spill, state
// The live readout: RMS change inside vs outside the region of the image on screen (the server
// measures it for each render, as the leak does).
function showReadout(inside, outside) {
  if (inside === null || outside === null) return;
  const i = parseFloat(inside), o = parseFloat(outside);
  $("readout").textContent = i === 0 && o === 0 ? "" :
    `change: inside ${i.toFixed(3)} · outside ${o.toFixed(3)} (RMS) · ratio ${(o / Math.max(i, 1e-9)).toFixed(2)}`;
  state.readout = { inside: i, outside: o };
}

// |change| heatmap over the image (optional): the edited image minus the original, per pixel.
const heat = $("heat");
async function drawHeat() {
  const hctx = heat.getContext("2d");
  if (!$("show-heat").checked || !state.result || !state.originalUrl) { heat.hidden = true; return; }
  const res = state.info.resolution;
  const orig = new Image();
  await loadImage(orig, state.originalUrl);
  const c = document.createElement("canvas");
  c.width = res; c.height = res;
  const ctx = c.getContext("2d");
  ctx.drawImage(orig, 0, 0, res, res);
  const a = ctx.getImageData(0, 0, res, res).data;
  ctx.drawImage($("image"), 0, 0, res, res);
  const b = ctx.getImageData(0, 0, res, res).data;
  heat.width = res; heat.height = res;
  const out = hctx.createImageData(res, res);
  for (let p = 0; p < res * res; p++) {
    const d = (Math.abs(a[4 * p] - b[4 * p]) + Math.abs(a[4 * p + 1] - b[4 * p + 1]) + Math.abs(a[4 * p + 2] - b[4 * p + 2])) / 3;
    const v = Math.min(1, d / 64);  // 64 grey levels of change = full scale
    out.data[4 * p] = 255; out.data[4 * p + 1] = Math.round(200 * (1 - v)); out.data[4 * p + 2] = 0;
    out.data[4 * p + 3] = Math.round(220 * v);
  }
  hctx.putImageData(out, 0, 0);
  heat.hidden = false;
}
$("show-heat").addEventListener("change", drawHeat);

// Stale: the result no longer matches what the inputs say; sliders and downloads wait for Compute.
function setStale(stale, why = "") {
  state.stale = stale && !!state.result;
  state.staleWhy = state.stale ? (state.staleWhy && state.staleWhy !== why ? "Inputs" : why) : "";
  $("stale").hidden = !state.stale;
  $("stale").textContent = state.stale ? `${state.staleWhy} changed — press Compute to update the directions.` : "";
  for (const input of document.querySelectorAll("#sliders input")) input.disabled = state.stale;
  $("reset").disabled = state.stale;
  $("strip-apply").disabled = state.stale || !state.result;
  $("directions").classList.toggle("stale", state.stale);
  updateDownloads();
}
function staleBecause(why) {
  if (!state.result) return;
  setStale(true, why);
  if ($("image").src !== state.originalUrl && state.originalUrl) $("image").src = state.originalUrl;
  state.shownAlphas = alphaText();
  $("readout").textContent = "";
  heat.hidden = true;
}
$("method").addEventListener("change", () => staleBecause("Method"));
$("top-k").addEventListener("input", () => { staleBecause("Top k"); validateInputs(); });
$("method-params").addEventListener("input", () => { staleBecause("Parameters"); validateInputs(); });
$("method-params").addEventListener("change", () => staleBecause("Parameters"));

// Undo / redo of the region: snapshots before each change.
const maskHistory = { undo: [], redo: [] };
function snapshot() {
  maskHistory.undo.push(state.mask.slice());
  if (maskHistory.undo.length > 100) maskHistory.undo.shift();
  maskHistory.redo = [];
}
function restoreFrom(from, to) {
  if (!from.length) return;
  to.push(state.mask.slice());
  state.mask.set(from.pop());
  markDirty();
  drawOverlay();
}
const undo = () => restoreFrom(maskHistory.undo, maskHistory.redo);
const redo = () => restoreFrom(maskHistory.redo, maskHistory.undo);

function holdOriginal(on) {
  if (on && !state.comparing && state.originalUrl) {
    state.comparing = $("image").src;
    $("image").src = state.originalUrl;
    $("compare").classList.add("active");
  } else if (!on && state.comparing) {
    $("image").src = state.comparing;
    state.comparing = null;
    $("compare").classList.remove("active");
  }
}

document.addEventListener("keydown", (event) => {
  const t = event.target;
  const typing = (t.tagName === "INPUT" && /^(text|number|search)$/.test(t.type)) || /^(SELECT|TEXTAREA)$/.test(t.tagName);
  const mod = event.ctrlKey || event.metaKey;
  if (mod && event.key.toLowerCase() === "z" && !typing) {
    event.preventDefault();
    if (event.shiftKey) redo(); else undo();
  } else if (mod && event.key.toLowerCase() === "y" && !typing) {
    event.preventDefault();
    redo();
  } else if (event.key === "Escape" && drag) {
    state.mask.set(drag.before);  // cancel the stroke in progress
    drag = null;
    maskHistory.undo.pop();
    markDirty();
    drawOverlay();
  } else if ((event.key === "o" || event.key === "O") && !typing && !mod && !event.repeat) {
    holdOriginal(true);
  }
});
document.addEventListener("keyup", (event) => { if (event.key === "o" || event.key === "O") holdOriginal(false); });

// Inputs checked in the browser against /api/config's ranges: every problem at once, each next to
// its field, in the page's words; Compute waits until all are fixed.
function fieldError(input, text) {
  let el = input.parentElement.querySelector(".field-error");
  if (!el) {
    el = document.createElement("span");
    el.className = "field-error";
    el.setAttribute("role", "alert");
    input.insertAdjacentElement("afterend", el);
  }
  el.textContent = text;
  el.hidden = !text;
  input.classList.toggle("invalid", !!text);
  input.setAttribute("aria-invalid", String(!!text));
  return text ? 1 : 0;
}

function checkNumber(text, { int = false, low = null, high = null, what = "a number" }) {
  if (text.trim() === "") return "";
  const v = Number(text);
  if (!Number.isFinite(v) || (int && !Number.isInteger(v))) return `Enter ${int ? "a whole number" : "a number"}${what ? "" : ""}.`;
  if (low !== null && v < low) return `Must be at least ${low}.`;
  if (high !== null && v > high) return `Must be at most ${high}.`;
  return "";
}

function validateInputs() {
  const lim = state.config ? state.config.limits : { top_k: 20, seed: 2147483647, strip: 12, path_steps: 8 };
  let bad = 0;
  const seedText = $("seed").value;
  bad += fieldError($("seed"), seedText.trim() === "" ? "Enter a seed (a whole number)." :
    checkNumber(seedText, { int: true, low: 0, high: lim.seed }));
  const k = $("top-k").value;
  bad += fieldError($("top-k"), k.trim() === "" ? "" : checkNumber(k, { int: true, low: 1, high: lim.top_k }));
  const m = state.config && state.config.methods.find((x) => x.name === $("method").value);
  for (const p of (m ? m.params : [])) {
    const input = $(`p-${p.name}`);
    if (!input || p.choices.length) continue;
    bad += fieldError(input, checkNumber(input.value, { int: p.type === "int", low: p.low, high: p.high }));
  }
  bad += fieldError($("path-steps"), checkNumber($("path-steps").value, { int: true, low: 0, high: lim.path_steps }));
  const parts = $("strip-seeds").value.split(/[,\s]+/).filter((x) => x);
  let stripErr = parts.length ? "" : "Enter seeds such as 1,2,3.";
  if (parts.length > lim.strip) stripErr = `At most ${lim.strip} seeds.`;
  const badSeed = parts.find((x) => checkNumber(x, { int: true, low: 0, high: lim.seed }) !== "");
  if (badSeed !== undefined) stripErr = `“${badSeed.slice(0, 20)}” is not a seed (a whole number 0–${lim.seed}).`;
  bad += fieldError($("strip-seeds"), stripErr);
  $("compute").disabled = bad > 0 || state.computing;
  $("strip-apply").disabled = !!stripErr || !state.result || state.stale;
  return bad === 0;
}
for (const id of ["seed", "path-steps", "strip-seeds"]) $(id).addEventListener("input", validateInputs);

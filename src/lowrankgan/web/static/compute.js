// lowrankgan serve: Compute. The method and its parameter fields from the server's registry, the
// inputs checked next to each field before any request, and the compute job with its progress.
"use strict";

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

function methodParams() {
  const params = {};
  for (const input of $("method-params").querySelectorAll("[data-param]")) {
    const v = input.value;
    if (v !== "") params[input.dataset.param] = input.dataset.kind === "str" ? v : Number(v);
  }
  return params;
}

// What Compute sends: every input the directions depend on.
function computeBody() {
  return {
    ...modelParams(), ...subject(), mask: Array.prototype.join.call(state.mask, ""),
    method: $("method").value, top_k: parseInt($("top-k").value, 10) || 5, params: methodParams(),
  };
}

// The body by the page's names for its inputs: the stale note says which ones differ.
const INPUT_LABELS = { mask: "Region", seed: "Seed", photo: "Seed", model: "Model", class: "Class",
                       method: "Method", top_k: "Top k", params: "Parameters", translate: "Transform",
                       rotate: "Transform" };
function inputState(body = computeBody()) {
  const out = {};
  for (const [key, value] of Object.entries(body)) {
    const label = INPUT_LABELS[key] || key;
    out[label] = (out[label] || "") + JSON.stringify(value);
  }
  return out;
}
// The inputs as one string; "image": only those that choose the image (model, class, transform,
// seed or photo).
function inputKey(scope = "inputs") {
  if (!state.mask) return "";
  const now = inputState();
  if (scope === "image") for (const k of ["Region", "Method", "Top k", "Parameters"]) delete now[k];
  return JSON.stringify(now);
}

// A result is current exactly when every input equals what it was computed from: a change makes it
// stale, putting the input back makes it current again. Messages made by other inputs go.
function refreshStale({ render = true } = {}) {
  dropOldMessages();
  if (!state.result || !state.computedInputs) return;
  const now = inputState(), was = state.computedInputs;
  let changed = [...new Set([...Object.keys(now), ...Object.keys(was)])].filter((k) => now[k] !== was[k]);
  if (changed.includes("Method")) changed = changed.filter((k) => k !== "Parameters");  // another method's own
  if (state.photo) changed = changed.map((k) => (k === "Seed" ? "Photo" : k));
  state.dirty = changed.includes("Region");
  if (changed.length) {
    staleBecause(changed.length > 1 ? `${changed.slice(0, -1).join(", ")} and ${changed.at(-1)}` : changed[0]);
  } else if (state.stale) {
    setStale(false);
    drawOverlay();
    if (render) requestRender();
  }
}

function dropOldMessages() {
  const key = inputKey();
  if (state.progressKey && state.progressKey !== key) {
    if ($("progress").classList.contains("error")) $("progress").hidden = true;
    state.progressKey = null;
  }
  if (state.messageKey && state.messageKey !== inputKey(state.messageScope)) message("");
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
    const body = computeBody();
    const sent = inputState(body);
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
    state.computedInputs = sent;
    showResult(job.result, seconds);
    refreshStale();  // inputs changed while it computed: the result is stale at once
    $("progress").hidden = true;
  } catch (err) {
    progress(err.message, null, true);
    state.progressKey = inputKey();  // the error belongs to these inputs: it goes when they change
  } finally {
    state.computing = false;
    validateInputs();
  }
}

// Inputs checked in the browser against /api/config's ranges: every problem at once, each next to
// its field, in the page's words; Compute waits until all are fixed.
// The message goes under the field's row, not into it: a row that keeps its controls on one line
// (the seed's ◀ ▶ random, path steps) would squeeze the field to nothing.
function fieldError(input, text) {
  let el = $(`error-${input.id}`);
  if (!el) {
    el = document.createElement("span");
    el.className = "field-error";
    el.id = `error-${input.id}`;
    el.setAttribute("role", "alert");
    (input.closest(".seed-row, .path-row") || input).insertAdjacentElement("afterend", el);
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

// Compute's inputs (app.js registers these once at start-up). #method's change rebuilds the fields
// first, then marks the result stale.
function wireCompute() {
  $("method").addEventListener("change", buildParams);
  $("compute").addEventListener("click", compute);
  $("method").addEventListener("change", () => refreshStale());
  $("top-k").addEventListener("input", () => { refreshStale(); validateInputs(); });
  $("method-params").addEventListener("input", () => { refreshStale(); validateInputs(); });
  $("method-params").addEventListener("change", () => refreshStale());
  for (const id of ["seed", "path-steps", "strip-seeds"]) $(id).addEventListener("input", validateInputs);
}

// lowrankgan serve: what the sliders make. The edited image (one render at a time), its live
// readout and |change| map, hold-to-compare, the strip of other seeds and the download links.
"use strict";

function pathStatus(delta) {
  state.pathBusy = Math.max(0, state.pathBusy + delta);
  showPathStatus();
}

// One line for both kinds of path work: a render walking its own paths, and the result's local
// paths walked on the server after Compute (sliders.js's pollPaths).
function showPathStatus() {
  const walk = state.result && state.result.paths;
  let text = "";
  if (state.pathBusy) text = "following path…";
  else if (walk && walk.state === "running") {
    text = `walking the local paths: ${walk.done} of ${walk.total} steps` +
      (state.shownPending ? " — until its path is there, a slider moves on the straight line" : "");
  } else if (walk && walk.state === "error") text = `the local paths failed (${walk.error}): the straight line is shown`;
  $("path-status").textContent = text;
}

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
    state.shownPending = resp.headers.get("X-Path-Pending") === "1";
    showPathStatus();
    const img = $("image");
    const old = img.src;
    await loadImage(img, URL.createObjectURL(blob));
    if (old.startsWith("blob:") && old !== state.originalUrl) URL.revokeObjectURL(old);
    state.shownAlphas = alphas;
    state.shownSteps = steps;
    drawHeat();
    const ms = performance.now() - t0;
    // Renders that computed paths (steps other than Compute's cached ones) apart from slider renders.
    (steps > 0 && steps !== cachedSteps() ? state.pathRenders : state.renders).push(ms);
    // Short, so that a three-digit time does not push it onto a line of its own.
    // (A direction whose path is still being walked was drawn on the straight line: not "path".)
    $("render-time").textContent = steps > 0 && !state.shownPending ? `path ×${steps}: ${ms.toFixed(0)} ms`
      : `${ms.toFixed(0)} ms`;
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

// The strip's seeds, compare and the |change| map (app.js registers these once at start-up).
function wireRender() {
  $("strip-apply").addEventListener("click", () => {
    if (!validateInputs()) return; $("strip").hidden = false; refreshStrip(); });
  $("strip-seeds").addEventListener("keydown", (e) => { if (e.key === "Enter" && state.result) $("strip-apply").click(); });

  // Hold to compare with the original (or hold the O key).
  $("compare").addEventListener("pointerdown", () => holdOriginal(true));
  for (const ev of ["pointerup", "pointerleave"]) $("compare").addEventListener(ev, () => holdOriginal(false));
  $("show-heat").addEventListener("change", drawHeat);
}

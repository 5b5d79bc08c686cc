// lowrankgan serve: the result on the page. One calibrated slider per direction with its leak, the
// strengths and path steps they ask for, and whether the result is stale.
"use strict";

function alphaText() {
  return state.alphas.map((a) => +a.toFixed(4)).join(",");
}

// Path steps as typed (the server checks 0..8); 0 = straight line, 8 = the local paths walked after
// Compute (each slider render reads them: no Jacobian); other counts are computed per render.
function pathSteps() {
  const v = parseInt($("path-steps").value, 10);
  return Number.isFinite(v) ? v : 8;
}

// The step count of the paths the server walks for a result and keeps (Compute's answer says).
function cachedSteps() {
  return state.result && state.result.path_steps ? state.result.path_steps : 8;
}

// The steps the image on screen should have: the cached paths are cheap, so even while dragging;
// other step counts only once a slider is released.
function desiredSteps() {
  return state.wantPath || pathSteps() === cachedSteps() ? pathSteps() : 0;
}

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

// The leak at the slider's two ends, for the path rendered; colours: green ≤ 0.2, amber ≤ 0.4, red above.
function endLeaks(d) {
  const e = d ? (pathSteps() === 0 ? d.straight_end_leaks : d.end_leaks) : null;
  if (!e && walking()) return { text: "leak … (walking its path)", worst: null, pending: true };
  if (!e) return { text: "leak —", worst: null };
  const f = (x) => (x === null || x === undefined ? "—" : x.toFixed(2));
  const both = e.filter((x) => x !== null && x !== undefined);
  return { text: `leak +${f(e[0])} / −${f(e[1])}`, worst: both.length ? Math.max(...both) : null };
}

function leakText(d) {
  return endLeaks(d).text;
}

function leakClass(d) {
  const { worst: w, pending } = endLeaks(d);
  return "leak " + (pending ? "pending" : w === null ? "bad" : w <= 0.2 ? "good" : w <= 0.4 ? "fair" : "bad");
}

function walking() {
  const walk = state.result && state.result.paths;
  return pathSteps() !== 0 && !!walk && walk.state === "running";
}

function refreshLeaks() {
  (state.result && state.result.directions || []).forEach((d, i) => {  // the labels follow the path rendered
    const el = $(`leak-${i}`);
    if (el) { el.textContent = leakText(d); el.className = leakClass(d); }
  });
}

// The result's local paths are walked on the server after Compute (web/paths.py): poll until every
// slider's is there, filling in its labels; an image that showed a direction on the straight line
// meanwhile renders again as each path arrives.
async function pollPaths(resultId) {
  while (state.result && state.result.result === resultId) {
    let walk;
    try {
      walk = await (await api(`/api/paths?${query({ result: resultId })}`)).json();
    } catch (err) {
      return;  // the result was dropped on the server: renders say so
    }
    if (!state.result || state.result.result !== resultId) return;
    let arrived = false;
    walk.directions.forEach((w, i) => {
      const d = (state.result.directions || [])[i];
      if (w.ready && d && !d.end_leaks) { d.end_leaks = w.end_leaks; arrived = true; }
    });
    state.result.paths = walk;
    refreshLeaks();
    showPathStatus();
    if ((arrived || walk.state !== "running") && state.shownPending && !state.stale) requestRender();
    if (walk.state !== "running") return;
    await new Promise((r) => setTimeout(r, 300));
  }
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
    leak.className = leakClass(d);
    leak.id = `leak-${i}`;
    leak.textContent = leakText(d);
    leak.title = "leak at this slider's + and − ends, as rendered along the local path: RMS change outside ÷ " +
      "inside the region (lower = more local; about 1 = global). Green ≤ 0.2, amber ≤ 0.4, red above. " +
      "With path steps 0: the straight line's leak at its ends.";
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
  pollPaths(result.result);
}

// Stale: the result no longer matches what the inputs say; sliders and downloads wait for Compute.
function setStale(stale, why = "") {
  state.stale = stale && !!state.result;
  state.staleWhy = state.stale ? why : "";  // compute.js's refreshStale: the inputs that differ
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
  $("heat").hidden = true;
}

// The sliders' reset and path steps (app.js registers these once at start-up).
function wireSliders() {
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
    refreshLeaks();
    updateDownloads();
    requestRender();
  });
}

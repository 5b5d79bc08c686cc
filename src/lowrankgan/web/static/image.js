// lowrankgan serve: the image being edited. The model, its class and the seed (or photo.js's
// uploaded photo), the model's presets and the face presets of this seed, and the original image.
"use strict";

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
  message("loading model…", false, "model");
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
    clearHistory();  // snapshots of another resolution cannot come back
  }
  state.dirty = true;
  $("region-hint").textContent = regionSummary();
  // Another class of the same model: the result stays, stale until Compute (loadSeed's refreshStale
  // says "Class changed"; choosing the old class again makes it current). Another model starts
  // afresh: its drawn region was reset above, and the result was made from the old one.
  if (!sameModel) clearResult();
  $("model").title = info.description;
  message(`${info.model}: ${info.resolution}×${info.resolution}, latent d=${info.latent_dim}`, false, "model");
  await loadSeed();
}

async function loadSeed() {
  refreshStale({ render: false });  // below: the edit when the result is current, else the original
  if (!validateInputs()) return;
  loadFacePresets();
  const url = `/api/image?${query({ ...modelParams(), ...subject() })}`;
  state.loading = (state.loading || 0) + 1;  // window.lrg.idle() waits for the image
  try {
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
  } finally {
    state.loading -= 1;
  }
  updateDownloads();
  if (state.result && !$("strip").hidden) refreshStrip();
  drawOverlay();
}

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
    const whose = state.photo ? "the photo" : `seed ${forSeed}`;
    for (const name of Object.keys(data.presets).reverse()) {
      const opt = option(`face:${name}`, `${name} (this face)`,
                         `shaped on ${whose}'s own face (the face detector's eyes, nose and mouth corners)`);
      select.insertBefore(opt, select.options[1] || null);
    }
    if (data.faces && !Object.keys(data.presets).length) {  // said, not silently left out
      const opt = option("face:", "(this face): no face found", `no face found in ${whose}'s image: the fixed presets remain`);
      opt.disabled = true;
      select.insertBefore(opt, select.options[1] || null);
    }
    select.disabled = select.options.length <= 1;
  } catch (err) { /* the fixed presets remain */ }
}

// Seeds and models chosen (app.js registers these once at start-up).
function wireImage() {
  $("seed").addEventListener("change", () => guarded(loadSeed));
  $("seed-prev").addEventListener("click", () => { $("seed").value = Math.max(0, seed() - 1); guarded(loadSeed); });
  $("seed-next").addEventListener("click", () => { $("seed").value = seed() + 1; guarded(loadSeed); });
  $("seed-random").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 100000);
    guarded(loadSeed);
  });
  $("model").addEventListener("change", () => guarded(() => loadModel(false)));
  $("class").addEventListener("change", () => guarded(() => loadModel(true)));
}

// StyleGAN3's input transform on the page: Translate X / Y (fractions of the image) and Rotate
// (degrees), shown where the model has one (/api/model's input_transform). Loaded before the other
// scripts; their functions (loadSeed, refreshStale, guarded) are called from event handlers only.
"use strict";

const TRANSFORM_IDS = ["translate-x", "translate-y", "rotate"];

function transformValues() {
  return TRANSFORM_IDS.map((id) => Number(document.getElementById(id).value));
}

// The transform as request parameters: none where the model has none or it is zero. image.js's
// modelParams adds these to every image and compute request.
function transformParams() {
  if (document.getElementById("transform-field").hidden) return {};
  const [tx, ty, deg] = transformValues();
  return tx || ty || deg ? { translate: `${tx},${ty}`, rotate: deg } : {};
}

function transformReadout() {
  const [tx, ty, deg] = transformValues();
  document.getElementById("translate-x-value").textContent = tx.toFixed(2);
  document.getElementById("translate-y-value").textContent = ty.toFixed(2);
  document.getElementById("rotate-value").textContent = String(deg);
}

// A model loaded: controls where it has an input transform; another model starts at none (another
// class of the same model keeps the transform).
let transformModel = null;
function showTransform(info) {
  document.getElementById("transform-field").hidden = !info.input_transform;
  if (info.model !== transformModel) for (const id of TRANSFORM_IDS) document.getElementById(id).value = 0;
  transformModel = info.model;
  transformReadout();
}

// Moved or turned: a new picture (its Jacobian is another), so the directions are stale until
// Compute, unless the controls are back at the result's transform.
async function transformChanged() {
  transformReadout();
  refreshStale({ render: false });  // loadSeed renders the edit when the result is current
  await loadSeed();
}

for (const id of TRANSFORM_IDS) {
  const input = document.getElementById(id);
  input.addEventListener("input", transformReadout);
  input.addEventListener("change", () => guarded(transformChanged));
}
document.getElementById("transform-reset").addEventListener("click", () => {
  for (const id of TRANSFORM_IDS) document.getElementById(id).value = 0;
  guarded(transformChanged);
});

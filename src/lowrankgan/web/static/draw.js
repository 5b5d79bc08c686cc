// lowrankgan serve: the region. The overlay canvas over the image, the brush / rectangle / erase
// tools and the presets that paint state.mask, and the region's undo / redo.
"use strict";

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
  refreshStale();  // undone (or cancelled) back to what was computed: the result is current again
  $("region-hint").textContent = regionSummary();
}

function regionSummary() {
  const n = state.mask.reduce((s, v) => s + v, 0);
  if (!n) return "Draw on the image to mark the part to edit.";
  const pct = (100 * n) / state.mask.length;
  return `Region: ${n} pixels (${pct.toFixed(1)}% of the image).`;
}

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

function rectOf(a, b) {
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.max(a[0], b[0]), Math.max(a[1], b[1])];
}

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
function clearHistory() {
  maskHistory.undo = []; maskHistory.redo = [];
}

// Escape: the stroke in progress is undone and leaves no undo step.
function cancelStroke() {
  if (!drag) return;
  state.mask.set(drag.before);  // cancel the stroke in progress
  drag = null;
  maskHistory.undo.pop();
  markDirty();
  drawOverlay();
}

// The overlay's pointer and the region controls (app.js registers these once at start-up).
function wireDrawing() {
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
  overlay.addEventListener("pointerup", endDrag);
  overlay.addEventListener("pointercancel", () => { drag = null; drawOverlay(); });

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
}

// lowrankgan serve: the page. Plain JS, no build step. It draws the region and calls the server's
// API (which calls lowrankgan's Python API); it computes nothing itself.
//
// Classic scripts sharing one global scope, in index.html's order: transform.js, api.js (requests),
// image.js (model and seed), draw.js (the region), compute.js (Compute), sliders.js (the result),
// render.js (edited image, strip, downloads), this file (state, keys, start-up), photo.js. The
// others only define functions and constants; this file registers their event handlers after
// `state` exists, so none can run before it.
"use strict";

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
  shownPending: false, // the image on screen drew a direction on the straight line: its path was not walked yet
  renders: [],         // slider render latencies in ms, straight or along the cached paths (browser test)
  pathRenders: [],     // latencies of renders that computed their paths (other path steps), ms
};

// Keyboard: undo / redo of the region, Escape cancels a stroke, hold O for the original.
// Ctrl+Z / Ctrl+Y act on the drawing wherever the focus is (a menu, a slider, a button), except in a
// text field, which keeps its own undo. The browser's undo elsewhere would reach back into the
// last field typed in (the Seed box) and change it behind the image's back.
function onKeyDown(event) {
  const t = event.target;
  const textField = (t.tagName === "INPUT" && /^(text|number|search)$/.test(t.type)) || t.tagName === "TEXTAREA";
  const typing = textField || t.tagName === "SELECT";  // a menu's letters choose its options
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  if (mod && (key === "z" || key === "y") && !event.altKey) {
    if (textField) return;
    event.preventDefault();
    if (key === "y" || event.shiftKey) redo(); else undo();
  } else if (event.key === "Escape") {
    cancelStroke();
  } else if (key === "o" && !typing && !mod && !event.repeat) {
    holdOriginal(true);
  }
}

wireDrawing();
wireCompute();
wireSliders();
wireRender();
wireImage();
window.addEventListener("resize", resizeOverlay);
wireNarrowLayout();
document.addEventListener("keydown", onKeyDown);
document.addEventListener("keyup", (event) => { if (event.key === "o" || event.key === "O") holdOriginal(false); });

// Narrow layouts put the image (sticky) above the sliders and settings: scrolled, it shrinks
// ("compact"), and a control that takes the focus scrolls out from under it (--stage-h, the
// image's height, is also the CSS's scroll-margin for the browser's own scrolling to a control).
function wireNarrowLayout() {
  const stage = $("stage");
  const narrow = window.matchMedia("(max-width: 1100px)");
  const update = () => {
    document.body.classList.toggle("compact", narrow.matches && window.scrollY > 24);
    document.documentElement.style.setProperty("--stage-h", `${Math.ceil(stage.getBoundingClientRect().height)}px`);
  };
  window.addEventListener("scroll", update, { passive: true });
  narrow.addEventListener("change", update);
  new ResizeObserver(update).observe(stage);
  document.addEventListener("focusin", (event) => {
    if (!narrow.matches || stage.contains(event.target)) return;
    const under = stage.getBoundingClientRect().bottom + 8 - event.target.getBoundingClientRect().top;
    if (under > 0) window.scrollBy(0, -under);
  });
  update();
}

// For the browser test (and the curious): whether the shown image matches the sliders.
window.lrg = {
  state,
  idle: () => !state.inflight && !state.pending && !state.retry && !state.loading &&
    (!state.result || (state.shownAlphas === alphaText() && state.shownSteps === desiredSteps())),
};

guarded(async () => {
  await loadConfig();
  resizeOverlay();
  await loadModel();
  resizeOverlay();
});

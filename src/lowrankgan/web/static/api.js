// lowrankgan serve: the page's requests and DOM helpers, used by every other script. Every API
// request carries the server's per-run token; a refused one becomes an Error with the server's line.
"use strict";

const $ = (id) => document.getElementById(id);

// The header's line. It belongs to the state that made it and goes when that changes (compute.js's
// dropOldMessages): `scope` "inputs" (any input), "image" (the model, seed or photo) or "model"
// (stays until the next model's line replaces it).
function message(text, isError = false, scope = "inputs") {
  const el = $("message");
  el.textContent = text || "";
  el.classList.toggle("error", !!isError);
  state.messageScope = scope;
  state.messageKey = text && scope !== "model" ? inputKey(scope) : null;
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

function loadImage(img, url) {
  return new Promise((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error("image failed to load"));
    img.src = url;
  });
}

async function guarded(fn) {
  try { await fn(); } catch (err) { message(err.message, true); }
}

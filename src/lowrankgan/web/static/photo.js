// lowrankgan serve: your own photo. Upload it, the server inverts it (a job, with its progress),
// and its code becomes the image being edited in place of a seed (image.js's subject()); "Edited
// photo" downloads the edit pasted back into the photo. Uses the other scripts' helpers ($, api,
// query, state).
"use strict";

function photoProgress(fraction) {
  // The inversion counts its steps: a filling bar. null: the moving bar (Compute).
  const el = $("progress");
  el.classList.toggle("determinate", fraction !== null);
  el.querySelector(".bar div").style.width = fraction === null ? "" : `${(100 * fraction).toFixed(1)}%`;
}

function photoBusy(busy) {
  state.computing = busy;
  $("photo-file").disabled = busy;
  $("photo-pick").classList.toggle("disabled", busy);
  validateInputs();
}

async function uploadPhoto(file) {
  if (!file) return;
  const limit = state.config.limits.photo_bytes;
  if (limit && file.size > limit) {
    progress(`${file.name} is ${(file.size / 2 ** 20).toFixed(1)} MB; at most ${limit / 2 ** 20} MB`, null, true);
    return;
  }
  photoBusy(true);
  const t0 = performance.now();
  const preview = URL.createObjectURL(file);  // the photo at once, while the face is found
  $("photo-aligned").src = preview;
  $("photo-recon").removeAttribute("src");
  $("photo-info").textContent = `${file.name.slice(0, 80)}: finding the face, then its code…`;
  $("photo-view").hidden = false;
  photoProgress(0);
  progress("sending the photo…", 0);
  try {
    const params = { ...modelParams(), steps: $("photo-steps").value, align: $("photo-align").value,
                     name: file.name.slice(0, 200) };
    let job = await (await api(`/api/photo?${query(params)}`, {
      method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file,
    })).json();
    while (job.state === "queued" || job.state === "running") {
      photoProgress(job.fraction === undefined ? 0 : job.fraction);
      progress(job.stage, (performance.now() - t0) / 1000);
      await new Promise((r) => setTimeout(r, 150));
      job = await (await api(`/api/jobs/${job.job}`)).json();
    }
    if (job.state === "error") throw new Error(job.error);
    $("progress").hidden = true;
    await showPhoto(job.result, (performance.now() - t0) / 1000);
  } catch (err) {
    progress(err.message, null, true);
    state.progressKey = inputKey("inputs");  // goes with the next change of an input
    if (state.photo) await showPhoto(state.photo, state.photoSeconds);  // the photo being edited stays
    else $("photo-view").hidden = true;
  } finally {
    URL.revokeObjectURL(preview);
    photoProgress(null);
    photoBusy(false);
    $("photo-file").value = "";  // the same file again re-inverts it (another step count)
  }
}

async function showPhoto(info, seconds) {
  state.photo = info;
  state.photoSeconds = seconds;
  $("photo-aligned").src = `/api/photo/${info.photo}/aligned?${query({})}`;
  $("photo-info").textContent =
    `${info.name || "photo"} (${info.width}×${info.height}): the model reproduces the aligned crop at ` +
    `PSNR ${info.psnr.toFixed(1)} dB, SSIM ${info.ssim.toFixed(2)} · ${info.steps} steps, ${seconds.toFixed(1)} s`;
  $("photo-back").textContent = `Back to seed ${seed()}`;
  $("photo-view").hidden = false;
  $("image-section").classList.add("photo-mode");
  await loadSeed();  // the code's image becomes the image on the canvas
  $("photo-recon").src = state.originalUrl;
  message(`editing your photo's code (PSNR ${info.psnr.toFixed(1)} dB): draw a region and press Compute`,
          false, "image");
}

// Back to seeds: the photo stays on the server (upload again to edit it once more).
function dropPhoto() {
  if (!state.photo) return;
  state.photo = null;
  $("photo-view").hidden = true;
  $("image-section").classList.remove("photo-mode");
  updateDownloads();
}

function photoDownloads(on) {  // called by render.js's updateDownloads
  const link = $("dl-photo");
  link.hidden = !state.photo;
  const ready = on && !!state.photo && !!state.result && state.result.photo === state.photo.photo;
  link.classList.toggle("disabled", !ready);
  if (ready) {
    link.href = `/api/paste?${query({
      result: state.result.result, photo: state.photo.photo, alphas: alphaText(), path_steps: pathSteps() || "",
    })}`;
  }
}

$("photo-file").addEventListener("change", () => uploadPhoto($("photo-file").files[0]));
$("photo-back").addEventListener("click", () => { dropPhoto(); guarded(loadSeed); });
// A seed or model chosen (typed, stepped, random, another model or class) leaves the photo: the
// capture phase runs before image.js's own handlers load the seed.
$("image-section").addEventListener("change", dropPhoto, true);
$("image-section").addEventListener("click", (e) => { if (e.target.closest("button")) dropPhoto(); }, true);

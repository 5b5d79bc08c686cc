"""What the page's photo upload costs the user: upload -> inversion job done, through the page's
HTTP API (Flask's test client over one ``Workspace``, as ``lowrankgan serve`` runs it), at the
page's step choices side by side, with the PSNR / SSIM of the reconstruction against the aligned
crop, then the first Compute on the photo's code.

    OMP_NUM_THREADS=1 python benchmarks/bench_photo_page.py [--steps 100,200,300] [--photo FILE]

The photo: ``--photo``, else ``skimage.data.astronaut()`` (512x512) when scikit-image is
installed, else a dcgan-faces image placed in a bigger grey picture.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

try:
    import lowrankgan  # noqa: F401
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lowrankgan import api  # noqa: E402
from lowrankgan.web.photos import PAGE_STEPS  # noqa: E402
from lowrankgan.web.server import create_app  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402

TOKEN = "bench"


def photo_bytes(path: str | None) -> tuple[bytes, str]:
    if path:
        return Path(path).read_bytes(), Path(path).name
    try:
        from skimage import data
        image, name = data.astronaut(), "astronaut (skimage, 512x512)"
    except ImportError:
        gen = api.load_model("dcgan-faces", device="cpu")
        face = api.sample(gen, [2100])[0].clamp(-1, 1).add(1).mul(127.5).round().byte().permute(1, 2, 0).numpy()
        image = np.full((300, 400, 3), 128, np.uint8)
        image[100:260, 200:360] = np.asarray(Image.fromarray(face).resize((160, 160), Image.Resampling.BICUBIC))
        name = "dcgan-faces seed 2100 in a 400x300 picture"
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue(), name


def wait(client, job_id: str) -> dict:
    while True:
        job = client.get(f"/api/jobs/{job_id}").get_json()
        if job["state"] in ("done", "error"):
            return job
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", default="100,200,300")
    parser.add_argument("--photo", default=None)
    args = parser.parse_args()
    data, name = photo_bytes(args.photo)
    workspace = Workspace(["dcgan-faces"], device="cpu")
    client = create_app(workspace, token=TOKEN).test_client()
    client.environ_base["HTTP_X_LOWRANKGAN_TOKEN"] = TOKEN
    print(f"photo: {name}; dcgan-faces; {platform.processor() or platform.machine()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}, load {os.getloadavg()[0]:.1f}; "
          f"page default {PAGE_STEPS} steps, 4 starts")
    rows = []
    for steps in [int(s) for s in args.steps.split(",")]:
        t0 = time.perf_counter()
        job = wait(client, client.post(f"/api/photo?steps={steps}", data=data, content_type="image/png").get_json()["job"])
        wall = time.perf_counter() - t0
        if job["state"] != "done":
            raise SystemExit(f"inversion failed: {job['error']}")
        info = job["result"]
        t0 = time.perf_counter()  # the first Compute: waits for the photo's Jacobian (warmed in the background)
        compute = client.post("/api/compute", json={"photo": info["photo"], "mask": "0" * 1472 + "1" * 640 + "0" * 1984})
        done = wait(client, compute.get_json()["job"])
        rows.append((steps, wall, info["seconds"], info["psnr"], info["ssim"], time.perf_counter() - t0, done["state"]))
    base = next((r[1] for r in rows if r[0] == PAGE_STEPS), rows[0][1])
    print(f"{'steps':>5} | {'upload->done s':>14} | {'x default':>9} | {'inversion s':>11} | {'PSNR dB':>7} | "
          f"{'SSIM':>5} | {'first Compute s':>15}")
    for steps, wall, inv, psnr, ssim, comp, state in rows:
        print(f"{steps:>5} | {wall:>14.1f} | {wall / base:>9.2f} | {inv:>11.1f} | {psnr:>7.2f} | {ssim:>5.3f} | "
              f"{comp:>15.1f}{'' if state == 'done' else ' (' + state + ')'}")


if __name__ == "__main__":
    main()

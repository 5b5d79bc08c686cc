"""How often the "(this face)" presets land on the face they name, against hand-marked landmarks.

    .venv/bin/python benchmarks/bench_face_regions.py [--marks tests/data/face_marks.json] [--photos]

The marks (``tests/data/face_marks.json``) are the eye centres, nose tip and mouth centre of 40
``dcgan-faces`` images, marked by eye. A preset hits when it holds its own landmarks and none of
the others': ``eyes`` both eyes and not the nose or mouth; ``left eye`` / ``right eye`` that eye and
not the other or the nose; ``nose`` the nose tip and not an eye or the mouth; ``mouth`` the mouth and
not the nose or an eye. A face the presets are not offered on ("no face found") counts as a miss.
Printed side by side with the fixed (mean-face) presets, the same test on the same faces, for
the faces the region sizes were chosen on (seeds 5000-5019) and the held-out ones (5020-5039).

``--photos``: the same rules on a photo (``tests/data/photo_face_marks.json``: a hand-marked real
photo) and moved copies of it (mirrored, turned 12 degrees, shrunk into a wider frame off centre,
cut to a portrait), each aligned as ``invert`` aligns it; the marks go through the same alignment.
Compared: the fixed presets; presets found on the model's reconstruction of the photo (inverted
at the page's 200 steps); on the aligned crop of the photo; and from the landmarks found on the
photo itself (those the alignment was fitted to), mapped into the crop.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RULES = {  # preset -> (landmarks it must hold, landmarks it must not)
    "eyes": (("left_eye", "right_eye"), ("nose", "mouth")),
    "left eye": (("left_eye",), ("right_eye", "nose")),
    "right eye": (("right_eye",), ("left_eye", "nose")),
    "nose": (("nose",), ("left_eye", "right_eye", "mouth")),
    "mouth": (("mouth",), ("nose", "left_eye", "right_eye")),
}


def holds(mask: np.ndarray, point: list[float]) -> bool:
    x, y = (min(mask.shape[0] - 1, max(0, int(v))) for v in point)
    return bool(mask[y, x])


def score(masks: dict[str, np.ndarray], face: dict) -> dict[str, bool]:
    out = {}
    for name, (must, must_not) in RULES.items():
        m = masks.get(name)
        out[name] = m is not None and all(holds(m, face[k]) for k in must) and not any(holds(m, face[k]) for k in must_not)
    return out


def moved_copies(photo: np.ndarray, marks: dict) -> list[tuple[str, np.ndarray, dict]]:
    """The photo and moved copies of it, each with its marks moved the same way."""
    from PIL import Image

    h, w = photo.shape[:2]
    im = Image.fromarray(photo)
    edge = tuple(int(v) for v in np.concatenate([photo[0], photo[-1], photo[:, 0], photo[:, -1]]).mean(0))
    out = [("as it is", photo, marks)]
    mirrored = {"left_eye": marks["right_eye"], "right_eye": marks["left_eye"], "nose": marks["nose"],
                "mouth": marks["mouth"]}
    out.append(("mirrored", photo[:, ::-1].copy(), {k: [w - x, y] for k, (x, y) in mirrored.items()}))
    turn, (cx, cy) = 12.0, marks["nose"]  # PIL turns counter-clockwise on screen
    t = np.radians(turn)
    rot = lambda x, y: [cx + (x - cx) * np.cos(t) + (y - cy) * np.sin(t),  # noqa: E731
                        cy - (x - cx) * np.sin(t) + (y - cy) * np.cos(t)]
    turned = np.asarray(im.rotate(turn, Image.Resampling.BICUBIC, center=(cx, cy), fillcolor=edge))
    out.append((f"turned {turn:g} degrees", turned, {k: rot(*p) for k, p in marks.items()}))
    frame = Image.new("RGB", (2 * w, round(1.4 * h)), edge)
    frame.paste(im.resize((w // 2, h // 2), Image.Resampling.LANCZOS), (round(1.2 * w), round(0.6 * h)))
    out.append(("half size, off centre in a wide frame", np.asarray(frame),
                {k: [x / 2 + round(1.2 * w), y / 2 + round(0.6 * h)] for k, (x, y) in marks.items()}))
    left, top = round(0.22 * w), round(0.12 * h)
    portrait = photo[top:, left:w - left]
    out.append(("cut to a portrait", portrait.copy(), {k: [x - left, y - top] for k, (x, y) in marks.items()}))
    return out


def photo_main(path: Path) -> None:
    from PIL import Image

    from lowrankgan import api
    from lowrankgan.photos.facelandmarks import image_face_presets, landmark_regions
    from lowrankgan.photos.invert import invert_image
    from lowrankgan.photos.photo import crop
    from lowrankgan.photos.photoinvert import align_photo

    data = json.loads(path.read_text())
    photo = np.asarray(Image.open(path.parent / data["photo"]).convert("RGB"))
    gen = api.as_model("dcgan-faces", "cpu")
    kinds = ("fixed", "reconstruction", "aligned crop", "photo landmarks")
    hits = {k: {p: 0 for p in RULES} for k in kinds}
    copies = moved_copies(photo, data["marks"])
    for name, image, marks in copies:
        al = align_photo(gen, image, "auto")
        inv = al.inverse()
        face = {k: (inv @ np.array([x, y, 1.0])).tolist() for k, (x, y) in marks.items()}
        target = crop(image, al)
        t0 = time.perf_counter()
        code = invert_image(gen, target, steps=200, restarts=4, progress=False).code
        seconds = time.perf_counter() - t0
        rec = api.face_presets(gen, "dcgan-faces", api.Latents(code.cpu().numpy(), gen.default_space))
        masks = {"fixed": {k: api.parse_region(v, gen.resolution).mask for k, v in gen.presets.items()},
                 "reconstruction": {k: api.parse_region(v, gen.resolution).mask for k, v in rec.items()},
                 "aligned crop": {k: api.parse_region(v, gen.resolution).mask
                                  for k, v in image_face_presets(target[0].numpy()).items()}}
        points = np.asarray(al.landmarks) if al.landmarks is not None else None
        masks["photo landmarks"] = {} if points is None else landmark_regions(
            (inv @ np.c_[points, np.ones(len(points))].T).T, (gen.resolution, gen.resolution))
        row = {kind: score(m, face) for kind, m in masks.items()}
        for kind in kinds:
            for k, hit in row[kind].items():
                hits[kind][k] += hit
        print(f"{name:<40} ({image.shape[1]}x{image.shape[0]}, {al.method}, inversion {seconds:.1f} s): " +
              "; ".join(f"{kind} {sum(row[kind].values())}/{len(RULES)}" for kind in kinds), flush=True)
    n = len(copies)
    print(f"{'preset':<10} " + " ".join(f"{kind:>16}" for kind in kinds))
    for k in RULES:
        print(f"{k:<10} " + " ".join(f"{hits[kind][k]:>14}/{n}" for kind in kinds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marks", default=str(ROOT / "tests" / "data" / "face_marks.json"))
    parser.add_argument("--photos", nargs="?", const=str(ROOT / "tests" / "data" / "photo_face_marks.json"),
                        help="score on a hand-marked photo and moved copies of it instead")
    args = parser.parse_args()
    if args.photos:
        photo_main(Path(args.photos))
        return

    from lowrankgan import api

    marks = json.loads(Path(args.marks).read_text())
    gen = api.as_model(marks["model"], "cpu")
    fixed = {k: api.parse_region(v, gen.resolution).mask for k, v in gen.presets.items()}
    split = {"fit": lambda s: s < 5020, "held out": lambda s: s >= 5020}
    hits = {(kind, part): {k: 0 for k in RULES} for kind in ("fixed", "this face") for part in split}
    count = {part: sum(f(face["seed"]) for face in marks["faces"]) for part, f in split.items()}
    found, seconds = 0, []
    for face in marks["faces"]:
        part = next(p for p, f in split.items() if f(face["seed"]))
        t0 = time.perf_counter()
        specs = api.face_presets(gen, marks["model"], face["seed"])
        seconds.append(time.perf_counter() - t0)
        found += bool(specs)
        own = {k: api.parse_region(v, gen.resolution).mask for k, v in specs.items()}
        for kind, masks in (("fixed", fixed), ("this face", own)):
            for k, hit in score(masks, face).items():
                hits[kind, part][k] += hit
    n = len(marks["faces"])
    print(f"{n} hand-marked faces of {marks['model']}; a face found on {found}; "
          f"presets in {1000 * float(np.median(seconds)):.0f} ms (median)")
    print(f"{'preset':<10} " + " ".join(f"{kind + ', ' + part:>24}" for kind in ("fixed", "this face") for part in split))
    for k in RULES:
        print(f"{k:<10} " + " ".join(f"{hits[kind, part][k]:>20}/{count[part]:<3}"
                                      for kind in ("fixed", "this face") for part in split))


if __name__ == "__main__":
    main()

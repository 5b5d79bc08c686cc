"""How often the "(this face)" presets land on the face they name, against hand-marked landmarks.

    .venv/bin/python benchmarks/bench_face_regions.py [--marks tests/data/face_marks.json]

The marks (``tests/data/face_marks.json``) are the eye centres, nose tip and mouth centre of 40
``dcgan-faces`` images, marked by eye. A preset hits when it holds its own landmarks and none of
the others': ``eyes`` both eyes and not the nose or mouth; ``left eye`` / ``right eye`` that eye and
not the other or the nose; ``nose`` the nose tip and not an eye or the mouth; ``mouth`` the mouth and
not the nose or an eye. A face the presets are not offered on ("no face found") counts as a miss.
Printed side by side with the fixed (mean-face) presets, the same test on the same faces, for
the faces the region sizes were chosen on (seeds 5000-5019) and the held-out ones (5020-5039).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marks", default=str(ROOT / "tests" / "data" / "face_marks.json"))
    args = parser.parse_args()

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

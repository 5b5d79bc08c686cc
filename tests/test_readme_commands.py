"""The README's command lines, run top to bottom as a newcomer would, in one working folder: each
must succeed. Lines that need what a test machine lacks are left out, each for a stated reason."""

import re
import shlex
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lowrankgan.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"

# A line containing any of these is not run here; the reason says why.
LEFT_OUT = {
    "--ray": "needs a Ray cluster (tests/test_ray.py runs it on a local one)",
    ".pkl": "needs a StyleGAN checkpoint downloaded from NVIDIA",
    "biggan": "needs BigGAN weights from the internet",
    "authors_eyes.npy": "needs the authors' published file",
    "lowrankgan serve": "runs until stopped (tests/test_web.py drives the page)",
    "--directions directions --alphas recorded": "needs a ZIP downloaded from the page (tests/test_web.py)",
    "--out eval-full/": "minutes of CPU: the run the README's evaluation figures come from",
}


def readme_commands() -> list[str]:
    """Every ``lowrankgan`` line of the README's code blocks, continuation lines joined, in order."""
    lines, in_block, pending = [], False, ""
    for raw in README.read_text().splitlines():
        if raw.startswith("```"):
            in_block = not in_block
            continue
        text = raw.strip()
        if not (in_block or raw.startswith("    ")):
            continue
        if pending:
            text, pending = pending + " " + text, ""
        if text.endswith("\\"):
            pending = text[:-1].rstrip()
            continue
        if text.startswith("lowrankgan "):
            lines.append(re.sub(r"\s+#.*$", "", text))
    return lines


def runnable(line: str) -> bool:
    return not any(key in line for key in LEFT_OUT)


def test_the_filter_leaves_out_only_what_it_says():
    lines = readme_commands()
    assert len(lines) > 20 and any("evaluate" in line for line in lines if runnable(line))
    for line in lines:
        if not runnable(line):
            assert any(key in line for key in LEFT_OUT)


def _face_photo(path: Path) -> None:
    """me.jpg: a face the default model drew, at photo size (MTCNN finds it, the inversion aligns it)."""
    from lowrankgan.models import load_model
    gen = load_model("dcgan-faces", device="cpu")
    img = ((gen.synthesize(gen.sample([31]))[0].clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 0).numpy()
    Image.fromarray(np.asarray(img)).resize((256, 256), Image.Resampling.BICUBIC).save(path, quality=95)


@pytest.mark.slow
def test_readme_commands_run_top_to_bottom(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _face_photo(tmp_path / "me.jpg")
    times = []
    for line in filter(runnable, readme_commands()):
        t0 = time.perf_counter()
        code = main(shlex.split(line)[1:])
        out = capsys.readouterr()
        assert code == 0, f"{line}\n{out.err}"
        times.append((round(time.perf_counter() - t0, 1), line))
    print("\n".join(f"{t:6.1f} s  {line}" for t, line in times))

"""The install story: the wheel ``python -m build`` makes installs into a fresh venv, carries the
page's static files, its dependencies are satisfied, and ``lowrankgan models`` runs from it."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs(tmp_path):
    pytest.importorskip("build")
    src = tmp_path / "src"  # a copy: building writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"),
                    str(src)], check=True, capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("lowrankgan-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "lowrankgan/web/static/index.html" in names and "lowrankgan/web/static/app.js" in names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    # The dependencies (torch …) are this environment's, seen through a .pth rather than downloaded again.
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    check = subprocess.run([str(py), "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert "lowrankgan" not in check.stdout, check.stdout  # every requirement of the wheel is satisfied
    out = subprocess.run([str(venv / "bin" / "lowrankgan"), "models"], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "dcgan-faces" in out.stdout and "omniart-eyes" in out.stdout
    where = subprocess.run([str(py), "-c", "import lowrankgan; print(lowrankgan.__file__)"], capture_output=True,
                           text=True, check=True).stdout
    assert where.startswith(site)  # the wheel's copy ran, not the source tree's

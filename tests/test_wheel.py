"""The built wheel: what it contains, and that the report command runs from a fresh install.

The wheel is built offline from a copy of the distribution's sources (no build isolation, so
no download), installed without dependencies and without an index into a new virtual
environment that sees the development environment's third-party packages through a ``.pth``
file, and the report command is run from there on the embedded dataset. The test checks that
the ``toolkit`` it ran is the installed one, not the working tree.

Marked ``wheel``: ``pytest -m "not wheel"`` leaves it out (e.g. where ``build`` is missing).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
#: What a source tree needs to build the wheel: everything else must not matter.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "toolkit", "datasets")


def _run(cmd: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(MPLBACKEND="Agg", TQDM_DISABLE="1", PIP_NO_INDEX="1", PYTHONNOUSERSITE="1")
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="the dev extra's `build` is needed to build the wheel")
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "generated")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)]
    _run([*cmd, str(src)], cwd=src, timeout=300)
    (built,) = out.glob("*.whl")
    return built


def test_wheel_holds_the_package_and_its_data_only(wheel: Path) -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dist = config["project"]["name"].replace("-", "_")
    from toolkit import __version__

    assert wheel.name == f"{dist}-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    info = f"{dist}-{__version__}.dist-info/"
    outside = sorted(n for n in names if not n.startswith(("toolkit/", info)))
    assert not outside, f"files outside the package in the wheel: {outside}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]

    data = sorted(n.removeprefix("toolkit/_data/") for n in names if n.startswith("toolkit/_data/"))
    assert all(n.endswith((".csv", ".md")) for n in data), data  # scripts/ stays out
    shipped = sorted(p.name for p in (ROOT / "datasets").iterdir() if p.suffix in (".csv", ".md"))
    assert data == shipped

    modules = {n for n in names if n.startswith("toolkit/") and n.endswith(".py")}
    source = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "toolkit").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules == source
    assert "toolkit/py.typed" in names

    metadata = zipfile.ZipFile(wheel).read(f"{info}METADATA").decode()
    assert "Name: therapy-breakthroughs" in metadata
    assert "seaborn" not in metadata
    entry_points = zipfile.ZipFile(wheel).read(f"{info}entry_points.txt").decode()
    assert "toolkit = toolkit.cli:main" in entry_points


@pytest.mark.slow
def test_report_command_runs_from_the_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], cwd=tmp_path, timeout=120)
    python = env_dir / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # The dependencies come from the development environment: appended to sys.path (its own
    # .pth files, such as the editable install of the working tree, are not processed).
    (purelib / "_dev_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        + ["--no-deps", "--no-index", "--no-cache-dir", str(wheel)],
        cwd=tmp_path,
        timeout=300,
    )

    where = _run(
        [str(python), "-c", "import toolkit; print(toolkit.__file__); print(toolkit.__version__)"],
        cwd=tmp_path,
        timeout=120,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(purelib), f"not the installed wheel: {where[0]}"
    from toolkit import __version__

    assert where[1] == __version__

    out = tmp_path / "report"
    cmd = [str(python), "-m", "toolkit", "--skip", "bayes", "--quiet", "--out", str(out)]
    _run(cmd, cwd=tmp_path, timeout=300)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "sgdata" in page
    assert len(list((out / "tables").glob("*.csv"))) >= 3
    assert len(list((out / "figures").glob("*.png"))) >= 3

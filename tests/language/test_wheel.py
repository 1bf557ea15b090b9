"""A wheel built from the repository, installed into a fresh venv, parses the examples (grammar shipped)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_installs_and_checks_the_examples(tmp_path: Path) -> None:
    # build from a copy, so no build/ or egg-info lands in the working tree
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    for pkg in ("logicdsl", "engine", "grammar"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                            "-w", str(dist), "-q"], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    wheel = next(dist.glob("logicdsl-*.whl"))

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # install the wheel's files into the venv with the outer pip (the venv has none of its own)
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q",
                           "--target", site, str(wheel)], capture_output=True, text=True, timeout=300)
    assert inst.returncode == 0, inst.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    script = (
        "import sys, logicdsl, logicdsl.grammar, logicdsl.engine\n"
        f"assert logicdsl.__file__.startswith({str(env_dir)!r}), logicdsl.__file__\n"
        "from logicdsl.frontend import check_file\n"
        "from logicdsl.fmt import format_source\n"
        "for p in sys.argv[1:]:\n"
        "    r = check_file(p)\n"
        "    assert r.ok, (p, r.diagnostics)\n"
        "    assert format_source(open(p).read()) == open(p).read()\n"
        "print('ok', logicdsl.__file__)\n"
    )
    examples = [str(p) for p in sorted((ROOT / "examples").glob("*/*.logic"))]
    proc = subprocess.run([str(py), "-c", script, *examples], capture_output=True, text=True, cwd=work, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok " + str(env_dir))
    cli = subprocess.run([str(py), "-m", "logicdsl", "compile", examples[0]], capture_output=True, text=True,
                         cwd=work, env=env, timeout=120)
    assert cli.returncode == 0, cli.stderr

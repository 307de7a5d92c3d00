"""The build compiles the catalogs: a wheel carries the ``.mo`` files, an editable install gets them in its tree."""

from __future__ import annotations

import gettext
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gradscope import i18n

ROOT = Path(__file__).resolve().parents[2]
MO = "gradscope/i18n/locales/zh/LC_MESSAGES/gradscope.mo"


def _source_copy(target: Path) -> Path:
    """The files a build reads, copied into ``target`` (the working tree is never built into)."""
    target.mkdir()
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        shutil.copy(ROOT / name, target / name)
    shutil.copytree(ROOT / "gradscope", target / "gradscope", ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    return target


def _build(source: Path, target: str, out: Path, *options: str) -> list[Path]:
    pytest.importorskip("hatchling", reason="the build backend (in the test extras)")
    command = [sys.executable, "-m", "hatchling", "build", "--target", target, "--directory", str(out), *options]
    subprocess.run(command, cwd=source, check=True, capture_output=True)
    return list(out.glob("*.whl"))


def test_the_wheel_carries_the_compiled_catalog(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    (wheel,) = _build(source, "wheel", tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        translation = gettext.GNUTranslations(io.BytesIO(archive.read(MO)))
    assert translation.gettext("vanishing") == "梯度消失"
    assert "gradscope/i18n/locales/zh/LC_MESSAGES/gradscope.po" in names
    assert not list(source.rglob("*.mo")), "a regular build leaves the source tree as it was"


def test_an_editable_install_gets_the_catalog_in_its_tree(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    # The hooks of an editable build, as pip install -e runs them (the wheel itself needs the editables package).
    _build(source, "wheel:editable", tmp_path / "dist", "--hooks-only")
    with (source / MO).open("rb") as file:
        assert gettext.GNUTranslations(file).gettext("stable") == "稳定"


def test_the_hook_compiles_what_the_runtime_reads(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        import hatch_build
    except ImportError:  # hatchling missing: the hook's module cannot load its base class
        pytest.skip("needs hatchling (in the test extras)")
    finally:
        sys.path.remove(str(ROOT))
    written = hatch_build.compile_catalogs(ROOT, tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in written] == ["zh/LC_MESSAGES/gradscope.mo"]
    compiled = i18n.catalog_path("zh").relative_to(i18n.LOCALE_DIR).as_posix()
    assert (tmp_path / compiled).read_bytes() == written[0].read_bytes()

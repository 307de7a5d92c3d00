"""The gallery: complete, deterministic, and written only inside the output folder (tiny sizes only)."""

from __future__ import annotations

import io
import os
import re
import stat
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from gradscope.errors import ConfigError
from gradscope.gallery import QUICK, REPORT_COMMAND, Artifact, GallerySizes, build_gallery, write_artifacts

FIGURES = (
    "profile-rnn",
    "profile-rnn-exploding",
    "compare-cells",
    "ensemble-cells",
    "ensemble-lstm-forget-bias",
    "sweep-gain",
    "sweep-forget-bias",
    "sweep-hidden-size",
    "spectrum",
    "sequence-length",
    "phase-gain",
    "lyapunov-spectrum",
    "depth-lstm-bidirectional",
    "training-adding",
)


@pytest.fixture(scope="module")
def built() -> tuple[list[Artifact], list[tuple[int, int, str]]]:
    calls: list[tuple[int, int, str]] = []
    artifacts = build_gallery(QUICK, progress=lambda done, total, what: calls.append((done, total, what)))
    return artifacts, calls


def test_every_figure_as_png_and_svg_and_a_readme(built: tuple[list[Artifact], list[tuple[int, int, str]]]) -> None:
    artifacts, _ = built
    paths = [path for path, _ in artifacts]
    assert paths == [f"{name}.{fmt}" for name in FIGURES for fmt in ("png", "svg")] + ["README.md"]
    for path, data in artifacts:
        if path.endswith(".png"):
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
        elif path.endswith(".svg"):
            assert ElementTree.parse(io.BytesIO(data)).getroot().tag.endswith("svg")


def test_progress_reports_each_step(built: tuple[list[Artifact], list[tuple[int, int, str]]]) -> None:
    _, calls = built
    total = len(FIGURES)
    assert [done for done, _, _ in calls] == list(range(total + 1))
    assert {t for _, t, _ in calls} == {total}
    assert all(what for _, _, what in calls[:-1]) and calls[-1][2] == ""


def test_readme_embeds_every_figure_with_caption_commands_and_numbers(
    built: tuple[list[Artifact], list[tuple[int, int, str]]],
) -> None:
    artifacts, _ = built
    text = dict(artifacts)["README.md"].decode("utf-8")
    assert REPORT_COMMAND in text
    embedded = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    assert embedded == [f"{name}.png" for name in FIGURES]
    sections = text.split("\n## ")[1:-1]  # the last one lists the sizes
    assert len(sections) == len(FIGURES)
    for section in sections:
        assert "Key numbers:" in section and "| ---: |" in section
        assert "```bash" in section or "```python" in section
    assert "gradscope analyze --cell rnn --hidden-size 6 --input-size 3" in text
    assert "--plot reports/profile-rnn.png" in text
    assert "gradscope compare --cells rnn,rnn-relu,lstm,gru" in text
    assert not re.search(r"20\d\d-\d\d-\d\d", text)  # no dates


def test_python_snippets_reproduce_their_figures_exactly(
    built: tuple[list[Artifact], list[tuple[int, int, str]]],
) -> None:
    from gradscope.figures import render

    artifacts, _ = built
    files = dict(artifacts)
    sections = files["README.md"].decode("utf-8").split("\n## ")[1:-1]
    checked = 0
    for section in sections:
        snippet = re.search(r"```python\n(.*?)```", section, re.S)
        if snippet is None:
            continue
        name = re.search(r"!\[[^\]]+\]\(([^)]+)\)", section).group(1)  # type: ignore[union-attr]
        *body, last = snippet.group(1).strip().splitlines()
        namespace: dict[str, object] = {}
        exec("\n".join(body), namespace)
        figure = eval(last, namespace)
        assert render(figure, "png") == files[name], name
        checked += 1
    assert checked == 8


def test_build_is_deterministic(built: tuple[list[Artifact], list[tuple[int, int, str]]]) -> None:
    artifacts, _ = built
    assert build_gallery(QUICK) == artifacts


def test_default_sizes_are_the_documented_gallery() -> None:
    sizes = GallerySizes()
    assert (sizes.hidden_size, sizes.steps, sizes.long_steps) == (64, 200, 1000)
    assert sizes.gains[0] == 0.5 and sizes.gains[-1] == 2.0
    assert sizes.forget_biases[-1] == "chrono" and 0.0 in sizes.forget_biases and 1.0 in sizes.forget_biases


def test_write_artifacts_writes_inside_out_dir(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    written = write_artifacts([("a.png", b"png"), ("sub/b.svg", b"svg"), ("README.md", b"text")], out)
    assert written == [out / "a.png", out / "sub" / "b.svg", out / "README.md"]
    assert (out / "sub" / "b.svg").read_bytes() == b"svg"
    assert sorted(p.name for p in out.rglob("*")) == ["README.md", "a.png", "b.svg", "sub"]  # no temporary files
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((out / "a.png").stat().st_mode) == 0o666 & ~umask
    write_artifacts([("a.png", b"new")], out)
    assert (out / "a.png").read_bytes() == b"new"


@pytest.mark.parametrize("bad", ["../escape.png", "sub/../../escape.png", "/tmp/abs.png", "", ".", "a\\..\\b.png"])
def test_write_artifacts_rejects_escaping_paths_before_writing(tmp_path: Path, bad: str) -> None:
    out = tmp_path / "reports"
    with pytest.raises(ConfigError, match="refusing"):
        write_artifacts([("fine.png", b"x"), (bad, b"y")], out)
    assert not (out / "fine.png").exists()  # nothing written when any path is bad
    assert not (tmp_path / "escape.png").exists()


def test_write_artifacts_rejects_symlinks_out_and_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (out / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match="outside"):
        write_artifacts([("link/x.png", b"x")], out)
    assert not (outside / "x.png").exists()
    with pytest.raises(ConfigError, match="twice"):
        write_artifacts([("x.png", b"1"), ("./x.png", b"2")], out)


def test_write_artifacts_turns_os_errors_into_file_errors_naming_the_folder(tmp_path: Path) -> None:
    from gradscope.files import FileError

    out = tmp_path / "reports"
    out.mkdir()
    (out / "sub").write_text("a file where a folder should be")
    with pytest.raises(FileError, match="reports: cannot write"):
        write_artifacts([("sub/x.png", b"x")], out)
    assert (out / "sub").read_text() == "a file where a folder should be"


def test_importing_the_gallery_does_not_import_matplotlib() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import gradscope.gallery; from gradscope.gallery import GallerySizes, QUICK, build_gallery; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'sympy', 'torch'}))"
    )
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "[]"

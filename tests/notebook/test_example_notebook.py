"""``examples/gradient_flow.ipynb`` runs end to end in a real Jupyter kernel, and what it shows is what
``gradscope.explain`` measures here: the notebook cannot rot unnoticed."""

from __future__ import annotations

import html
import json
import os
import re
import sys
from pathlib import Path

import pytest

import gradscope
from gradscope.analysis.describe import verdict_word
from gradscope.terminal.format import format_rate

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "gradient_flow.ipynb"
#: The sizes the notebook's setup cell gives every cell (checked below, so that the two cannot drift apart).
SIZES = {"hidden_size": 16, "steps": 60, "seed": 0}
SIZES_LINE = "SIZES = dict(hidden_size=16, steps=60, seed=0)"
#: Seconds for the whole notebook, kernel start included (it takes about 8 on the 2-core machine).
TIMEOUT = 90


def plain(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).replace("\u2502", " ").split())


def test_the_notebook_is_stored_without_outputs() -> None:
    stored = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    nbformat.validate(nbformat.reads(NOTEBOOK.read_text(encoding="utf-8"), as_version=4))
    for cell in stored["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None, cell["id"]
    assert SIZES_LINE in "".join(stored["cells"][1]["source"])


@pytest.fixture(scope="module")
def executed() -> dict[str, object]:
    """The notebook executed in a fresh ``python3`` kernel on this source tree (its cells by id).

    ipykernel's spec names ``python``, which jupyter_client replaces by this interpreter; ``PYTHONPATH`` puts this
    source tree first, ahead of any installed gradscope."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    # One more cell, run last: nothing in the notebook touched pyplot's global figures.
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import sys\nprint('matplotlib.pyplot' in sys.modules, gradscope.__file__, sys.executable)", id="probe"
        )
    )
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env["LANGUAGE"] = "en"  # the words the test looks for, whatever the machine's locale
    client = nbclient.NotebookClient(
        notebook, timeout=TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute(env=env)  # raises CellExecutionError, naming the cell, if any cell raised
    return {cell.id: cell for cell in notebook.cells}


def outputs_html(cell: object) -> str:
    """The cell's one output: the displayed result's HTML (a second display would be a report printed twice)."""
    outputs = [o for o in cell.outputs if o.output_type in ("execute_result", "display_data")]
    assert len(outputs) == 1, [o.output_type for o in cell.outputs]
    assert "text/html" in outputs[0].data
    return outputs[0].data["text/html"]


def test_no_cell_raised_and_the_kernel_ran_this_source_tree(executed: dict) -> None:
    for cell in executed.values():
        if cell.cell_type == "code":
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.id
    probe = "".join(o.text for o in executed["probe"].outputs if o.output_type == "stream").split()
    assert probe[0] == "False"
    assert Path(probe[1]).resolve() == (ROOT / "gradscope" / "__init__.py").resolve()  # not an installed copy
    assert Path(probe[2]).resolve() == Path(sys.executable).resolve()  # the kernel runs on this interpreter


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_each_explain_shows_its_report_figure_and_verdict(executed: dict, cell: str) -> None:
    page = outputs_html(executed[f"explain-{cell}"])
    explanation = gradscope.explain(cell, **SIZES)
    analysis = explanation.analysis
    text = plain(page)
    assert f"{cell}: {verdict_word(analysis.verdict)}, rate {format_rate(analysis.rate_per_step)}/step" in text
    for sentence in explanation.why():
        assert " ".join(sentence.split()) in text
    assert 'src="data:image/png;base64,' in page
    if cell == "rnn":
        assert analysis.verdict == "vanishing"  # what the notebook's text teaches
    if cell == "lstm":
        assert explanation.carousel is not None and explanation.carousel.name == "c->c"


def test_the_why_sentences_and_the_rerun_suggestion(executed: dict) -> None:
    rnn = gradscope.explain("rnn", **SIZES)
    printed = "".join(o.text for o in executed["why-rnn"].outputs if o.output_type == "stream")
    assert printed.splitlines() == [f"- {sentence}" for sentence in rnn.why()]
    lstm = gradscope.explain("lstm", **SIZES)
    suggestion = lstm.suggestions[0]
    assert suggestion.changes == {"forget_bias": "chrono"}  # the notebook's text names it
    rerun = plain(outputs_html(executed["rerun-lstm"]))
    assert f"rate {format_rate(suggestion.rate_per_step)}/step" in rerun
    assert suggestion.rate_per_step > lstm.analysis.rate_per_step  # the change helps, as the text says
    result = executed["rerun-check"].outputs[0].data["text/plain"]
    first, second = (float(value) for value in result.strip("()").split(","))
    assert first == pytest.approx(second, rel=1e-12)


def test_compare_shows_the_three_cells(executed: dict) -> None:
    text = plain(outputs_html(executed["compare"]))
    for analysis in gradscope.compare(["rnn", "lstm", "gru"], **SIZES).analyses:
        assert f"{analysis.cell}: {verdict_word(analysis.verdict)}, rate {format_rate(analysis.rate_per_step)}" in text

"""Malformed and hostile cell files: each is one line naming the file and the key, and runs nothing.

Hand-written cases for each rule of the format, and generated ones: every top-level key missing or of the
wrong type, and strings that would run code under ``eval`` placed in every formula a file can hold.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gradscope.cells.file import MAX_FILE_BYTES, parse_cell_text, read_cell_file
from gradscope.errors import CellFileError, GradscopeError

GOOD = {
    "name": '"leaky-tanh"',
    "title": '"Leaky-integrator tanh RNN"',
    "gates": '["a"]',
    "state": '["h"]',
}
EQUATION = 'h = "(1 - alpha) * h_prev + alpha * tanh(u_a + m_a)"'


def text(
    top: dict[str, str] | None = None, constants: str = "alpha = 0.3", equations: str = EQUATION, more: str = ""
) -> str:
    """A cell file: ``top`` replaces top-level values (``None`` as a value drops the key)."""
    values = GOOD | (top or {})
    head = "\n".join(f"{key} = {value}" for key, value in values.items() if value is not None)
    return f"{head}\n{more}\n[constants]\n{constants}\n\n[equations]\n{equations}\n"


#: (id, file text, fragments the message must hold)
HAND_WRITTEN = [
    ("toml-syntax", 'name = "x\n', ["not valid TOML"]),
    ("toml-duplicate-key", text(more='name = "again"'), ["not valid TOML"]),
    ("unknown-key", text(more='script = "x"'), ["script", "unknown key"]),
    ("name-not-a-name", text({"name": '"a b"'}), ["name", "'a b'"]),
    ("title-empty", text({"title": '""'}), ["title"]),
    ("title-two-lines", text({"title": '"a\\nb"'}), ["title", "one line"]),
    ("gates-empty", text({"gates": "[]"}), ["gates"]),
    ("gates-numbers", text({"gates": "[1, 2]"}), ["gates"]),
    ("state-not-a-list", text({"state": '"h"'}), ["state"]),
    ("state-without-equation", text({"state": '["h", "c"]'}), ["equations", "'c'", "no equation"]),
    ("unknown-symbol", text(equations='h = "tanh(u_a + m_a + zeta)"'), ["equations.h", "zeta"]),
    ("unknown-function", text(equations='h = "erf(u_a)"'), ["equations.h", "erf"]),
    ("cycle", text(equations='h = "g"\ng = "h_prev * k"\nk = "g"'), ["cycle"]),
    ("self-reference", text(equations='h = "h + u_a"'), ["equations.h"]),
    ("equation-not-a-string", text(equations="h = 3"), ["equations.h", "formula string"]),
    ("empty-equation", text(equations='h = ""'), ["equations.h"]),
    ("constant-not-a-number", text(constants='alpha = "abc"'), ["constants.alpha"]),
    ("constant-bool", text(constants="alpha = true"), ["constants.alpha"]),
    ("constant-inf", text(constants="alpha = inf"), ["constants.alpha"]),
    ("constant-nan", text(constants="alpha = nan"), ["constants.alpha"]),
    ("constant-huge", text(constants="alpha = 1e308"), ["constants.alpha"]),
    ("constant-string-code", text(constants="alpha = \"__import__('os')\""), ["constants.alpha"]),
    ("constant-log-negative", text(constants='alpha = "log(-1)"'), ["constants.alpha"]),
    ("constant-divide-by-zero", text(constants='alpha = "1/0"'), ["constants.alpha"]),
    ("constants-not-a-table", text(more="constants = 3").replace("[constants]\nalpha = 0.3\n", ""), ["constants"]),
    ("recurrent-unknown-kind", text(more='[recurrent]\nweight = "sparse"\n'), ["recurrent"]),
    ("recurrent-unknown-key", text(more='[recurrent]\nshape = "x"\n'), ["recurrent"]),
    ("recurrent-matrix-code", text(more='[recurrent]\nmatrix = "W.T"\n'), ["recurrent"]),
    ("recurrent-matrix-not-linear", text(more='[recurrent]\nmatrix = "W * W"\n'), ["recurrent"]),
    ("vector-bad-parameter-name", text(more='[vectors]\np = "weight hh"\n'), ["vectors"]),
    ("vector-not-a-string", text(more="[vectors]\np = 1\n"), ["vectors.p"]),
    ("projection-unknown-gate", text(more='[projections]\nq = "h_prev"\n'), ["projections"]),
    ("huge-exponent", text(equations='h = "u_a ** 1000000"'), ["equations.h", "exponent"]),
    ("exact-number-too-large", text(equations='h = "1e300 ** 16 * u_a"'), ["equations.h"]),
    ("nested-too-deep", text(equations='h = "' + "tanh(" * 60 + "u_a" + ")" * 60 + '"'), ["equations.h"]),
    ("too-long", text(equations='h = "' + " + ".join(["u_a"] * 2000) + '"'), ["equations.h"]),
    ("subscript", text(equations='h = "u_a[0]"'), ["equations.h", "["]),
    ("attribute", text(equations='h = "u_a.real"'), ["equations.h", "."]),
    ("lambda", text(equations='h = "lambda: u_a"'), ["equations.h"]),
    ("assignment", text(equations='h = "u_a = 1"'), ["equations.h", "="]),
    ("string", text(equations="h = \"'abc'\""), ["equations.h"]),
    ("dunder", text(equations='h = "__class__"'), ["equations.h", "__class__"]),
    ("keyword", text(equations='h = "u_a if m_a else h_prev"'), ["equations.h"]),
    ("semicolon", text(equations='h = "u_a; m_a"'), ["equations.h", ";"]),
    ("sympy-picture", text(equations='h = "u_a⋅m_a"'), ["equations.h", "2-D picture"]),
]

#: Strings that would run code, or reach Python objects, under eval / sympify / parse_expr.
PAYLOADS = [
    "__import__('os').system('touch {marker}')",
    "open('{marker}', 'w').write('x')",
    "exec(\"open('{marker}','w')\")",
    "eval('1')",
    "compile('1', 'x', 'exec')",
    "globals()",
    "locals()",
    "vars()",
    "getattr(u_a, '__class__')",
    "().__class__.__bases__[0].__subclasses__()",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "(lambda: 1)()",
    "u_a.__class__",
    "Symbol('x')",
    "Function('f')(u_a)",
    "sympify('1')",
    "__builtins__",
    "breakpoint()",
    "input()",
    "help()",
    "exit()",
    "os.system('true')",
    "sys.modules",
    "np.load('x')",
    "import os",
    "u_a if 1 else 0",
    "u_a and m_a",
    "not u_a",
    "u_a < m_a",
    "u_a == m_a",
    "{1: 2}",
    "[1, 2]",
    "f'{u_a}'",
    "b'x'",
    "u_a @= m_a",
    "*u_a",
    "u_a % 2",
    "u_a // 2",
    "u_a << 1",
    "~u_a",
    "u_a | m_a",
    "u_a & m_a",
    "Heaviside",
    "tanh",
    "tanh(u_a, m_a, h_prev)",
    "$u_a",
    "u_a\\\\nimport os",
    "\\u0000",
]
#: Where a payload may stand: an equation, a constant, the recurrent matrix, a projection.
PLACES = {
    "equation": lambda p: text(equations=f'h = "tanh(u_a + m_a) + {p}"'),
    "constant": lambda p: text(constants=f'alpha = "{p}"'),
    "recurrent": lambda p: text(more=f'[recurrent]\nmatrix = "W + {p}"\n'),
    "projection": lambda p: text(more=f'[projections]\na = "h_prev * {p}"\n'),
}
PLACE_KEYS = {
    "equation": "equations.h",
    "constant": "constants.alpha",
    "recurrent": "recurrent",
    "projection": "projections",
}


def generated_cases() -> list[tuple[str, str, list[str]]]:
    cases = []
    for key in GOOD:  # every required key missing, and of the wrong types
        cases.append((f"missing-{key}", text({key: None}), [key, "missing"]))
        for kind, value in (("number", "3"), ("table", "{ a = 1 }"), ("bool", "true")):
            cases.append((f"{key}-as-{kind}", text({key: value}), [key]))
    cases.append(("missing-equations", text().split("[equations]")[0], ["equations", "missing"]))
    for index, payload in enumerate(PAYLOADS):
        for place, make in PLACES.items():
            cases.append((f"payload-{index}-{place}", make(payload.replace('"', '\\"')), [PLACE_KEYS[place]]))
    return cases


CASES = HAND_WRITTEN + generated_cases()


def test_there_are_more_than_a_hundred_cases() -> None:
    assert len(CASES) > 200


@pytest.mark.parametrize(("case", "body", "fragments"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_file_is_one_line_naming_file_and_key_and_runs_nothing(
    case: str, body: str, fragments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "cell.toml"
    path.write_text(body.replace("{marker}", str(marker)), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(GradscopeError) as caught:
        read_cell_file(path).cell()
    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}:"), message
    for fragment in fragments:
        assert fragment in message, (case, message)
    assert not marker.exists(), f"{case}: code ran"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cell.toml"], case


def test_a_shipped_cell_name_is_refused_when_the_file_is_put_in_use(tmp_path: Path) -> None:
    from gradscope.cells.file_registry import use_cell_file

    path = tmp_path / "lstm.toml"
    path.write_text(text({"name": '"lstm"'}), encoding="utf-8")
    with pytest.raises(CellFileError, match="name of a shipped cell"):
        use_cell_file(path)


def test_paths_that_are_not_regular_files(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)  # would block a plain open(): refused without waiting for a writer
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    link = tmp_path / "link.toml"
    link.symlink_to(folder)
    for path, fragment in ((fifo, "not a regular file"), (folder, "not a regular file"), (link, "not a regular file")):
        with pytest.raises(CellFileError, match=fragment) as caught:
            read_cell_file(path)
        assert str(caught.value).startswith(str(path))
    with pytest.raises(CellFileError, match="cannot open"):
        read_cell_file(tmp_path / "missing.toml")


def test_a_file_too_large_or_not_utf8(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * MAX_FILE_BYTES, encoding="utf-8")
    with pytest.raises(CellFileError, match="bytes"):
        read_cell_file(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(text().encode("utf-8") + b"# \xff\xfe\n")
    with pytest.raises(CellFileError, match="not UTF-8"):
        read_cell_file(latin)


def test_the_good_file_of_these_cases_is_read() -> None:
    cell = parse_cell_text(text()).cell()
    assert cell.spec.name == "leaky-tanh" and dict(cell.spec.constants) == {"alpha": 0.3}


def test_overrides_are_checked_like_the_file() -> None:
    read = parse_cell_text(text(), "leaky.toml")
    assert dict(read.with_constants({"alpha": "0.5"}).constants) == {"alpha": 0.5}
    with pytest.raises(CellFileError, match="no constant 'beta'"):
        read.with_constants({"beta": 1})
    with pytest.raises(CellFileError, match="--set alpha"):
        read.with_constants({"alpha": "__import__('os')"})

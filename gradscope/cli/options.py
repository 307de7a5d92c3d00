"""The options commands share, as ``Annotated`` aliases: a new command reuses them, a new shared option is one alias."""

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from gradscope.cells.spec import ALL_CELL_NAMES, ZOO_CELL_NAMES
from gradscope.errors import ConfigError
from gradscope.i18n import set_language

#: Set to 1 to make ``gradscope report`` build the tiny test gallery (``gallery.QUICK``), for tests.
REPORT_QUICK_ENV = "GRADSCOPE_REPORT_QUICK"

CELL_PANEL = "Cell and sizes"
DRAW_PANEL = "Random parameters and inputs"
FILE_PANEL = "Data files (loaded without ever running code from them)"
OUTPUT_PANEL = "Output"

InitName = Literal["pytorch", "gaussian", "orthogonal", "identity", "xavier", "chrono"]
NormName = Literal["spectral", "frobenius"]
DtypeName = Literal["float64", "float32"]
DeriveFormat = Literal["pretty", "latex", "markdown"]
LanguageName = Literal["en", "zh"]


def optional(*flags: str, help: str, panel: str, metavar: str | None = None, **more: Any) -> Any:
    """A ``typer.Option`` whose ``--help`` hides the default: the command picks it, or reads it from a file."""
    return typer.Option(*flags, help=help, metavar=metavar, show_default=False, rich_help_panel=panel, **more)


def complete_cell(incomplete: str) -> list[str]:
    return [name for name in (*ALL_CELL_NAMES, *ZOO_CELL_NAMES) if name.startswith(incomplete)]


#: Where the ``--set`` values of one command line wait for ``--cell`` (``--set`` is eager: read first).
CONSTANTS_META = "gradscope.cell_constants"


def parse_constants(values: list[str] | None) -> dict[str, str]:
    """``--set NAME=VALUE`` values as ``{NAME: VALUE}`` (the cell file checks the values)."""
    constants: dict[str, str] = {}
    for text in values or ():
        name, equals, value = text.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise ConfigError(f"--set: expected NAME=VALUE, e.g. --set alpha=0.5, got {text!r}")
        constants[name.strip()] = value.strip()
    return constants


def read_constants(ctx: typer.Context, values: list[str] | None) -> list[str] | None:
    """``--set`` (eager): kept in the context for the ``--cell`` option of the same command line."""
    ctx.meta[CONSTANTS_META] = parse_constants(values)
    return values


def cell_key(name: str, constants: dict[str, str] | None = None) -> str:
    """A cell option's value as the name of a cell: a cell file (``PATH.toml``) is read, checked and put in use
    with its constants set; a shipped cell with ``constants`` (the zoo's have some) is read from its file."""
    from gradscope.cells import file_names, file_registry
    from gradscope.cells.spec import ZOO_FOLDER, resolve_name

    if file_names.looks_like_file(name):
        return file_registry.use_cell_file(name.strip(), constants).name
    resolved = resolve_name(name)
    if constants and resolved not in ZOO_CELL_NAMES and file_names.registered(resolved) is not None:
        return resolved  # a file already read with these constants (by --cell, then again by name)
    if constants:
        if resolved not in ZOO_CELL_NAMES:
            raise ConfigError(f"--set: the cell {resolved!r} has no constants (a cell file's [constants] can be set)")
        return file_registry.use_cell_file(ZOO_FOLDER / f"{resolved}.toml", constants).name
    return resolved


def read_cell(ctx: typer.Context, value: str) -> str:
    return cell_key(value, ctx.meta.get(CONSTANTS_META))


CellName = Annotated[
    str,
    typer.Option(
        "--cell",
        "-c",
        "--cell-file",
        help=f"The recurrent cell: {', '.join(ALL_CELL_NAMES)}, the zoo's {', '.join(ZOO_CELL_NAMES)} "
        "(see 'gradscope cells'), or a cell file PATH.toml (see docs/cell-files.md).",
        autocompletion=complete_cell,
        callback=read_cell,
        rich_help_panel=CELL_PANEL,
    ),
]
CellConstants = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="NAME=VALUE",
        help="Set a constant of the cell's file (e.g. --set alpha=0.5, --set dt=0.01); repeat for several.",
        callback=read_constants,
        is_eager=True,
        show_default=False,
        rich_help_panel=CELL_PANEL,
    ),
]
HiddenSize = Annotated[
    int | None,
    optional(
        "--hidden-size",
        "-H",
        help="Hidden size H (default 64; taken from --weights, or from --h0, when given).",
        panel=CELL_PANEL,
    ),
]
OutputSize = Annotated[
    int | None,
    optional(
        "--output-size",
        help="Output size O of the jordan cell, whose state is its fed-back output y (default H; "
        "taken from --weights when given).",
        panel=CELL_PANEL,
    ),
]
InputSize = Annotated[
    int | None,
    optional(
        "--input-size",
        "-I",
        help="Input size (default 32; taken from --weights, or from the width of --inputs, when given).",
        panel=CELL_PANEL,
    ),
]
Steps = Annotated[
    int | None,
    optional(
        "--steps",
        "-T",
        help="Sequence length T, the largest lag (default 200; taken from --inputs when given).",
        panel=CELL_PANEL,
    ),
]
Seed = Annotated[
    int,
    typer.Option(
        "--seed",
        help=(
            "Seeds every random draw (parameters and inputs come from independent streams, so cells "
            "compared with one seed see the same inputs)."
        ),
        rich_help_panel=DRAW_PANEL,
    ),
]
Init = Annotated[
    InitName,
    typer.Option(
        "--init",
        help=(
            "Random parameters: pytorch = U(-1/sqrt(H), 1/sqrt(H)) times the gain; gaussian = recurrent blocks "
            "N(0, gain^2/H); orthogonal = recurrent blocks gain times a random orthogonal matrix; identity = IRNN "
            "(Le et al. 2015, for rnn-relu): recurrent blocks gain * I, biases 0; xavier = the recurrent weight "
            "Glorot uniform, as torch.nn.init.xavier_uniform_(weight_hh_l0, gain); chrono = pytorch with chrono "
            "gate biases (Tallec & Ollivier 2018; LSTM and GRU, see --forget-bias, --update-bias, --t-max)."
        ),
        rich_help_panel=DRAW_PANEL,
    ),
]
Gain = Annotated[float, typer.Option("--gain", help="Scale of the random parameters.", rich_help_panel=DRAW_PANEL)]
InputScale = Annotated[
    float,
    typer.Option("--input-scale", help="Inputs are input_scale * N(0, 1).", rich_help_panel=DRAW_PANEL),
]
ForgetBias = Annotated[
    str | None,
    optional(
        "--forget-bias",
        metavar="B|chrono",
        help="LSTM only: the effective forget-gate bias b_f (bias_ih + bias_hh), or 'chrono' (Tallec & Ollivier "
        "2018, b_f = log U(1, T_max - 1), b_i = -b_f); default PyTorch's random biases.",
        panel=DRAW_PANEL,
    ),
]
UpdateBias = Annotated[
    str | None,
    optional(
        "--update-bias",
        metavar="B|chrono",
        help="GRU only: the effective update-gate bias b_z (bias_ih + bias_hh of the z chunk). PyTorch's GRU is "
        "h' = (1 - z) * n + z * h, so a larger b_z keeps more of h_{t-1}; 'chrono': b_z = log U(1, T_max - 1). "
        "Default PyTorch's random biases.",
        panel=DRAW_PANEL,
    ),
]
TMax = Annotated[
    int | None,
    optional(
        "--t-max",
        metavar="T",
        help="Chrono initialisation's T_max (default: the steps T, or each task's steps).",
        panel=DRAW_PANEL,
    ),
]
NumLayers = Annotated[
    int | None,
    optional(
        "--num-layers",
        "-L",
        metavar="L",
        help="Random stacked network of L layers, as torch.nn.LSTM(num_layers=L); the profile follows the top "
        "layer's recurrence (default 1; taken from --weights when given).",
        panel=CELL_PANEL,
    ),
]
Bidirectional = Annotated[
    bool,
    typer.Option(
        "--bidirectional",
        help="Random bidirectional network, as torch.nn.LSTM(bidirectional=True): each layer above the first "
        "reads both directions (taken from --weights when given).",
        rich_help_panel=CELL_PANEL,
    ),
]
Norm = Annotated[NormName, typer.Option("--norm", help="Matrix norm of d s_T / d s_{T-k}.", rich_help_panel=CELL_PANEL)]
Dtype = Annotated[
    DtypeName,
    typer.Option(
        "--dtype",
        help="Precision of the products (float32: faster, 1e-5 .. 1e-3 relative).",
        rich_help_panel=CELL_PANEL,
    ),
]
Weights = Annotated[
    Path | None,
    optional(
        "--weights",
        metavar="FILE",
        help=(
            "A checkpoint with PyTorch state_dict names (weight_ih_l0, weight_hh_l0, bias_ih_l0, ...): .npz as "
            "written by np.savez(f, **{k: v.numpy() for k, v in model.state_dict().items()}), .pt/.pth "
            "(torch.save(model.state_dict()); read with weights_only=True) or .safetensors. Sizes, num_layers and "
            "bidirectional come from the names and shapes."
        ),
        panel=FILE_PANEL,
    ),
]
Prefix = Annotated[
    str | None,
    optional(
        "--prefix",
        metavar="PREFIX",
        help=(
            "Which recurrent module of a larger model's state_dict to analyse, e.g. 'encoder.rnn.'; by default the "
            "only module holding recurrent weights is used."
        ),
        panel=FILE_PANEL,
    ),
]
Inputs = Annotated[
    Path | None,
    optional(
        "--inputs",
        metavar="FILE.npy",
        help="Input sequence, shape (T, input_size) (default: N(0, 1) draws).",
        panel=FILE_PANEL,
    ),
]
H0 = Annotated[
    Path | None,
    optional(
        "--h0",
        metavar="FILE.npy",
        help="Initial hidden state, shape (H,) or PyTorch's (1, H) (default: zeros).",
        panel=FILE_PANEL,
    ),
]
Y0 = Annotated[
    Path | None,
    optional(
        "--y0",
        metavar="FILE.npy",
        help="Initial output of the jordan cell (its state y), shape (O,) or (1, O) (default: zeros).",
        panel=FILE_PANEL,
    ),
]
C0 = Annotated[
    Path | None,
    optional(
        "--c0",
        metavar="FILE.npy",
        help="Initial LSTM cell state, shape (H,) or (1, H) (default: zeros).",
        panel=FILE_PANEL,
    ),
]
JsonPath = Annotated[
    str | None,
    optional(
        "--json",
        metavar="PATH",
        help="Write the result as JSON to PATH (atomically); '-' prints only the JSON on stdout.",
        panel=OUTPUT_PANEL,
    ),
]
Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="No progress bar, and one summary line instead of the report.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
PlotPath = Annotated[
    Path | None,
    optional(
        "--plot",
        metavar="PATH",
        help="Also draw the figure and save it to PATH (atomically): .png, .svg or .pdf, chosen by the extension.",
        panel=OUTPUT_PANEL,
    ),
]
Samples = Annotated[
    int | None,
    optional(
        "--samples",
        metavar="N",
        help=(
            "Analyse N independent random draws of weights and inputs (seeds SEED, SEED+1, ..., SEED+N-1) and report "
            "the pointwise median and 10-90 % band of the profile, the median rate and the verdict counts. "
            "Not with --weights, --inputs, --h0 or --c0."
        ),
        panel=DRAW_PANEL,
    ),
]


def choose_language(language: str | None) -> str | None:
    """``--lang``: speak it from now on (parsed first, so the whole command speaks it); absent, keep the choice
    made before (``gradscope --lang zh analyze``, else the locale's, which the application resets to)."""
    if language is not None:
        set_language(language)
    return language


Language = Annotated[
    LanguageName | None,
    optional(
        "--lang",
        metavar="en|zh",
        help=(
            "Language of the report and of the figure's labels: en (English) or zh (Simplified Chinese); default "
            "the locale's (LANG=zh_CN.UTF-8 is zh). Numbers, JSON and error messages are the same in both."
        ),
        panel=OUTPUT_PANEL,
        callback=choose_language,
        is_eager=True,
    ),
]

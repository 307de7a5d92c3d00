"""The problem value: what every study runs on, made and validated once.

A :class:`Problem` carries the compiled cell, the network's parameters (given, or drawn from the
seed), the input sequence, the initial state, the norm, the working precision and the seed, plus
how it was made, so that ensembles, sweeps and length studies can remake it with one thing
changed (:meth:`Problem.redraw`) and every result can say where it came from (``config``).

Random draws (the reproducibility contract): parameters and inputs come from independent streams
spawned from ``numpy.random.SeedSequence(seed)``, so cells of different sizes compared with one
seed see the same inputs; chrono initialisation draws from ``default_rng([seed, CHRONO_STREAM])``.

The model options (``init``, ``gain``, ``forget_bias``, ``update_bias``, ``t_max``, ``num_layers``,
``bidirectional``) have one meaning wherever a model is drawn: ``analyze``, ``compare``, ``lyapunov``,
``sweep`` and ``explain`` all reach them through :func:`make_problem`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from gradscope.analysis.initial import initial_state
from gradscope.cells.spec import CellSpec
from gradscope.compile.cache import compile_cell
from gradscope.compile.compiled import CompiledCell
from gradscope.engine.depth import stacked_forward
from gradscope.engine.products import check_dtype, check_norm
from gradscope.engine.trajectory import Trajectory
from gradscope.errors import ConfigError, NonFiniteError
from gradscope.params.arrays import as_float_array, check_count, check_scale, check_size
from gradscope.params.init import CHRONO_STREAM, check_init, init_params, set_forget_bias, set_update_bias
from gradscope.params.layer import LayerParams, validate_layer
from gradscope.params.network import NetworkParams, validate_params

if TYPE_CHECKING:
    from gradscope.cells.cell import Cell

DEFAULT_HIDDEN_SIZE = 64
DEFAULT_INPUT_SIZE = 32
DEFAULT_STEPS = 200


class ProblemOptions(TypedDict, total=False):
    """The keyword arguments of :func:`make_problem` (and of every function that builds a problem)."""

    params: Mapping[str, object] | NetworkParams | None
    inputs: object | None
    h0: object | None
    c0: object | None
    y0: object | None
    hidden_size: int | None
    input_size: int | None
    output_size: int | None
    steps: int | None
    num_layers: int | None
    bidirectional: bool | None
    seed: int
    init: str
    gain: float
    forget_bias: float | str | None
    update_bias: float | str | None
    t_max: int | None
    input_scale: float
    norm: str
    dtype: str


@dataclass(frozen=True, eq=False)
class Problem:
    """A fully specified problem; build it with :func:`make_problem`. Arrays are read-only.

    Attributes:
        compiled: the cell, compiled (once per process).
        network: the validated parameters, layer by layer and direction by direction.
        inputs: ``(T, input_size)``.
        initial_state: ``(L*D, S)``, one initial state vector per layer and direction.
        norm, dtype, seed: the norm of the products, their working precision, and the seed of every draw.
        config: how the parameters, inputs and initial state were obtained (JSON-ready).
        options: the keyword arguments it was made from (see :meth:`redraw`).
    """

    compiled: CompiledCell
    network: NetworkParams
    inputs: np.ndarray
    initial_state: np.ndarray
    norm: str
    dtype: str
    seed: int
    config: Mapping[str, Any]
    options: Mapping[str, Any]

    @property
    def spec(self) -> CellSpec:
        return self.compiled.spec

    @property
    def params(self) -> LayerParams:
        """Layer 0's forward parameters (the whole network is :attr:`network`)."""
        return self.network.first

    @property
    def steps(self) -> int:
        return int(self.inputs.shape[0])

    @property
    def hidden_size(self) -> int:
        return self.network.hidden_size

    @property
    def input_size(self) -> int:
        return self.network.input_size

    @property
    def output_size(self) -> int | None:
        return self.network.output_size

    def redraw(self, **changes: Any) -> Problem:
        """The same problem made again with some options changed, e.g. ``redraw(seed=3)`` or ``redraw(gain=2.0)``."""
        return make_problem(**(dict(self.options) | changes))

    def forward(self) -> list[list[Trajectory]]:
        """The forward passes ``[layer][direction]`` (``[[trajectory]]`` for a single layer)."""
        return stacked_forward(self.compiled, self.network, self.inputs, self.initial_state)

    def trajectory(self) -> Trajectory:
        """The forward pass whose recurrence a profile follows: the top layer's forward direction."""
        return self.forward()[-1][0]

    def __reduce__(self) -> tuple[Any, ...]:
        # Shipped to worker processes as the recipe: the compiled cell's functions need not pickle.
        return (_remake, (dict(self.options),))


def trajectory(problem: Problem) -> Trajectory:
    """The forward pass of a problem whose recurrence a profile follows: the top layer's forward direction."""
    return problem.trajectory()


def _remake(options: dict[str, Any]) -> Problem:
    return make_problem(**options)


def as_problem(cell: Problem | str | Cell, options: Mapping[str, Any]) -> Problem:
    """``cell`` itself when it is a :class:`Problem` (then ``options`` must be empty), else the problem
    :func:`make_problem` makes of ``cell`` and ``options``: what every study's keyword convenience calls."""
    if isinstance(cell, Problem):
        if options:
            raise ConfigError(
                f"give either a Problem or the options to make one, not both (got {', '.join(sorted(options))})"
            )
        return cell
    return make_problem(cell, **options)


def make_problem(cell: str | Cell, **options: Any) -> Problem:
    """Validate everything a study takes and draw what is not given; see :class:`ProblemOptions`.

    Args:
        cell: ``"rnn"``, ``"rnn-relu"``, ``"lstm"``, ``"gru"``, ``"jordan"`` or a :class:`~gradscope.cells.Cell`.
        params: PyTorch-named parameters (``weight_ih_l0`` ``(G*H, I)``, ``weight_hh_l0`` ``(G*H, H)``,
            optional ``bias_ih_l0``/``bias_hh_l0`` ``(G*H,)``, and ``_l1``, ``_reverse`` for stacked and
            bidirectional networks), e.g. a ``state_dict``; the sizes come from the shapes. Drawn from
            ``seed`` when not given. Jordan: ``weight_ih_l0`` ``(H, I)``, ``weight_yh_l0`` ``(H, O)``,
            ``weight_hy_l0`` ``(O, H)``, optional ``bias_ih_l0`` ``(H,)`` and ``bias_hy_l0`` ``(O,)``.
        inputs: ``(T, input_size)`` input sequence; ``N(0, 1)`` from ``seed`` when not given.
        h0, c0: initial hidden (and, for the LSTM, cell) state ``(H,)`` (PyTorch's ``(1, H)`` too; for a
            stacked network ``(L*D, H)``); zeros by default.
        y0: initial output ``y_0`` ``(O,)`` of the Jordan cell (zeros by default; it takes no ``h0``/``c0``).
        hidden_size, input_size: sizes of random parameters (default 64 and 32).
        output_size: O of random Jordan parameters (default ``hidden_size``).
        steps: T, when ``inputs`` is not given (default 200).
        num_layers, bidirectional: the structure of random parameters (default one layer, one direction).
        seed: seeds every random draw.
        init: random parameters: ``"pytorch"`` (``U(-1/sqrt(H), 1/sqrt(H))`` for every weight and bias,
            times ``gain``), ``"gaussian"`` (recurrent blocks ``N(0, gain^2/H)``), ``"orthogonal"``
            (recurrent blocks ``gain`` times a random orthogonal matrix), ``"identity"`` (IRNN: recurrent
            blocks ``gain * I``, biases zero), ``"xavier"`` (the recurrent weight Glorot uniform, as
            ``torch.nn.init.xavier_uniform_``) or ``"chrono"`` (PyTorch's default with chrono's keep-gate
            biases: ``forget_bias="chrono"`` for the LSTM, ``update_bias="chrono"`` for the GRU); see
            :func:`gradscope.params.init.init_params`.
        gain: scale of the random parameters (see ``init``).
        forget_bias: LSTM only: the effective forget-gate bias ``b_f`` (``bias_ih + bias_hh`` of the
            ``f`` chunk) or ``"chrono"`` (Tallec & Ollivier 2018); see :mod:`gradscope.params.init`.
        update_bias: GRU only: the effective update-gate bias ``b_z`` (``z`` chunk); PyTorch's GRU is
            ``h' = (1 - z) * n + z * h``, so a larger ``b_z`` keeps more of ``h_{t-1}``; or ``"chrono"``.
        t_max: chrono's ``T_max`` (default T).
        input_scale: inputs are ``input_scale`` times the given or drawn ones (default 1).
        norm: ``"spectral"`` (default) or ``"frobenius"``.
        dtype: working precision of the products, ``"float64"`` (default) or ``"float32"``.

    Raises:
        GradscopeError: unknown cell, bad parameter names or shapes, non-finite values, sizes or
            steps below 1, unknown options; the message names the offending thing.
    """
    unknown = sorted(set(options) - set(ProblemOptions.__annotations__))
    if unknown:
        raise ConfigError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    norm = check_norm(options.get("norm", "spectral"))
    dtype = check_dtype(options.get("dtype", "float64"))
    compiled = compile_cell(cell)
    spec = compiled.spec
    seed = check_count("seed", options.get("seed", 0))
    init, gain = options.get("init", "pytorch"), options.get("gain", 1.0)
    gain = check_init(init, gain)
    input_scale = check_scale("input_scale", options.get("input_scale", 1.0))
    _check_budget(spec, options)
    if not spec.feedback:
        for name in ("y0", "output_size"):
            if name == "y0" and "y" in spec.state:
                continue  # a state component named y (coRNN) takes it
            if options.get(name) is not None:
                raise ConfigError(
                    f"{name} given, but the {spec.name} cell does not feed its output back (state: {spec.state_layout})"
                )
    params_seed, inputs_seed = np.random.SeedSequence(seed).spawn(2)
    config: dict[str, Any] = {"seed": seed}
    if options.get("params") is None:
        network = _drawn(spec, options, np.random.default_rng(params_seed), init, gain, config)
    else:
        network = _given(spec, options, config)
        _check_budget(spec, options, network)
    network = _with_gate_biases(spec, network, options, seed, config)
    inputs = _inputs(options, network.input_size, inputs_seed, config)
    if input_scale != 1.0:
        inputs = input_scale * inputs
        config["input_scale"] = input_scale
    initial = initial_state(spec, network, options, config)
    for array in (inputs, initial):
        array.setflags(write=False)
    recipe = MappingProxyType({"cell": cell, **options})
    return Problem(compiled, network, inputs, initial, norm, dtype, seed, MappingProxyType(config), recipe)


def _check_budget(spec: CellSpec, options: Mapping[str, Any], network: NetworkParams | None = None) -> None:
    """The sizes against the memory budget (:mod:`gradscope.params.budget`): the requested ones before anything
    is drawn, or, for given parameters, their shapes before the inputs are drawn. A size that is not a positive
    integer is left to the validation that names it."""
    from gradscope.params.budget import check_problem_size

    if network is None and options.get("params") is not None:
        return  # checked with their shapes once they are validated
    if network is None:
        wanted = {"hidden_size": DEFAULT_HIDDEN_SIZE, "input_size": DEFAULT_INPUT_SIZE, "num_layers": 1}
        sizes = {name: _option(options, name, default) for name, default in wanted.items()}
        if spec.feedback:
            sizes["output_size"] = _option(options, "output_size", sizes["hidden_size"])
        directions = 2 if options.get("bidirectional") else 1
    else:
        sizes = {"hidden_size": network.hidden_size, "input_size": network.input_size}
        sizes["num_layers"], directions = network.num_layers, network.num_directions
        if spec.feedback:
            sizes["output_size"] = network.output_size
    inputs = options.get("inputs")
    given_steps = inputs is not None and np.ndim(inputs) >= 1
    steps = np.shape(inputs)[0] if given_steps else _option(options, "steps", DEFAULT_STEPS)
    if all(isinstance(size, int) and not isinstance(size, bool) and size > 0 for size in [*sizes.values(), steps]):
        components = max(len(spec.state), 1)
        check_problem_size(steps=steps, gates=spec.num_gates, components=components, directions=directions, **sizes)


def _drawn(
    spec: CellSpec, options: Mapping[str, Any], rng: np.random.Generator, init: str, gain: float, config: dict
) -> NetworkParams:
    """Parameters drawn for ``init`` at the requested (or default) sizes and structure."""
    hidden = check_size("hidden_size", _option(options, "hidden_size", DEFAULT_HIDDEN_SIZE))
    width = check_size("input_size", _option(options, "input_size", DEFAULT_INPUT_SIZE))
    output = None
    if spec.feedback:
        output = check_size("output_size", _option(options, "output_size", hidden))
    layers = check_size("num_layers", _option(options, "num_layers", 1))
    bidirectional = bool(options.get("bidirectional") or False)
    if spec.feedback and (layers > 1 or bidirectional):
        raise ConfigError(f"num_layers, bidirectional: the {spec.name} cell is one layer, one direction")
    config |= {"params": "random", "init": init, "gain": gain}
    if layers > 1 or bidirectional:
        config |= {"num_layers": layers, "bidirectional": bidirectional}
    drawn = init_params(
        spec, hidden, width, rng, init, gain, output_size=output, num_layers=layers, bidirectional=bidirectional
    )
    try:
        return validate_params(spec, drawn)
    except NonFiniteError as error:  # a gain near float64's limit: the draws themselves overflow
        raise ConfigError(f"gain {gain:g} with init {init}: the drawn parameters overflow float64 ({error})") from None


def _given(spec: CellSpec, options: Mapping[str, Any], config: dict) -> NetworkParams:
    """Validated given parameters; sizes and structure that were also given must agree with the names and shapes."""
    given = options["params"]
    if isinstance(given, NetworkParams) and given.first.layout.spec == spec:
        network = given  # validated where it was made (a checkpoint's loader)
    else:
        network = validate_params(spec, given)
    if network.stacked:
        config |= {"num_layers": network.num_layers, "bidirectional": network.bidirectional}
    config["params"] = "given"
    actual = {"hidden_size": network.hidden_size, "input_size": network.input_size}
    if spec.feedback:
        actual["output_size"] = network.output_size
    actual |= {"num_layers": network.num_layers}
    for name, size in actual.items():
        value = options.get(name)
        if value is not None and check_size(name, value) != size:
            raise ConfigError(f"{name}={value} contradicts the parameters, whose shapes give {name}={size}")
    value = options.get("bidirectional")
    if value is not None and bool(value) != network.bidirectional:
        raise ConfigError(f"bidirectional={value} contradicts the parameters' names")
    return network


#: The keep gate's bias option of each cell that has one, with the library function that sets it.
GATE_BIASES = {"lstm": ("forget_bias", set_forget_bias), "gru": ("update_bias", set_update_bias)}


def _with_gate_biases(
    spec: CellSpec, network: NetworkParams, options: Mapping[str, Any], seed: int, config: dict
) -> NetworkParams:
    """The network with the LSTM's forget-gate or the GRU's update-gate bias set in every layer, or unchanged.

    ``init="chrono"`` on drawn parameters means the cell's bias option ``"chrono"`` (and refuses one given too).
    """
    t_max = options.get("t_max")
    if t_max is not None:
        check_size("t_max", t_max)
    own = GATE_BIASES.get(spec.name)
    for name, cell in (("forget_bias", "lstm"), ("update_bias", "gru")):
        if options.get(name) is not None and spec.name != cell:
            gate = "forget gate" if cell == "lstm" else "update gate z"
            other = f" (its keep gate's bias is {own[0]})" if own else ""
            raise ConfigError(
                f"{name} sets the {cell.upper()}'s {gate}; it applies to the {cell.upper()} only, "
                f"not to {spec.name!r}{other}"
            )
    if own is None:
        return network
    option, setter = own
    bias = options.get(option)
    if options.get("init") == "chrono" and options.get("params") is None:
        if bias is not None:
            raise ConfigError(f"init chrono sets {option} itself; give one of them, not both")
        bias = "chrono"
    if bias is None:
        return network
    if bias == "chrono":
        t_max = t_max if t_max is not None else _steps(options)
        if t_max < 3:
            raise ConfigError("chrono initialisation needs T_max >= 3: give t_max or at least 3 steps")
        config |= {option: "chrono", "t_max": int(t_max)}
    elif isinstance(bias, str):
        raise ConfigError(f"{option} must be a number or 'chrono', got {bias!r}")
    else:
        config[option] = float(bias)
    rng = np.random.default_rng([seed, CHRONO_STREAM]) if bias == "chrono" else None
    layers = tuple(
        tuple(validate_layer(spec, setter(p.as_dict(), bias, t_max=t_max, rng=rng)) for p in row)
        for row in network.layers
    )
    return NetworkParams(layers, network.bidirectional)


def _steps(options: Mapping[str, Any]) -> int:
    """T: the given inputs' length, else ``steps`` (default 200)."""
    if options.get("inputs") is not None:
        return int(np.shape(options["inputs"])[0])
    return check_size("steps", _option(options, "steps", DEFAULT_STEPS))


def _option(options: Mapping[str, Any], name: str, default: Any) -> Any:
    """``options[name]``, or ``default`` where it is absent or ``None``."""
    value = options.get(name)
    return default if value is None else value


def _inputs(options: Mapping[str, Any], width: int, seed: np.random.SeedSequence, config: dict) -> np.ndarray:
    """The given inputs ``(T, width)``, checked, or ``N(0, 1)`` draws for ``steps`` (or the default)."""
    steps, inputs = options.get("steps"), options.get("inputs")
    if inputs is None:
        count = check_size("steps", _option(options, "steps", DEFAULT_STEPS))
        config["inputs"] = "normal(0, 1)"
        return np.random.default_rng(seed).standard_normal((count, width))
    x = as_float_array("inputs", inputs)
    if x.ndim != 2 or x.shape[1] != width:
        raise ConfigError(f"inputs: expected shape (T, {width}) (T steps of input_size {width}), got {x.shape}")
    if x.shape[0] < 1:
        raise ConfigError("inputs: need at least one time step, got 0")
    if steps is not None and check_size("steps", steps) != x.shape[0]:
        raise ConfigError(f"steps={steps} contradicts the inputs, which have {x.shape[0]} time steps")
    config["inputs"] = "given"
    return x

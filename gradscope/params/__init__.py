"""PyTorch-named parameters of one layer or a whole network, their one validation, and the random inits."""

from gradscope.params.arrays import as_float_array, check_choice, check_count, check_scale, check_shape, check_size
from gradscope.params.init import INITS, check_init, check_init_fits, init_params, set_forget_bias, set_update_bias
from gradscope.params.layer import LayerParams, Layout, expected_shapes, layout, validate_layer
from gradscope.params.network import DIRECTIONS, NetworkParams, is_stacked, layer_suffix, validate_params

__all__ = [
    "DIRECTIONS",
    "INITS",
    "LayerParams",
    "Layout",
    "NetworkParams",
    "as_float_array",
    "check_choice",
    "check_count",
    "check_init",
    "check_init_fits",
    "check_scale",
    "check_shape",
    "check_size",
    "expected_shapes",
    "init_params",
    "is_stacked",
    "layer_suffix",
    "layout",
    "set_forget_bias",
    "set_update_bias",
    "validate_layer",
    "validate_params",
]

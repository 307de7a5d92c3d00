"""Files: checkpoints and arrays read without ever running code, and the one atomic writer of outputs."""

from gradscope.files.arrays import FileError, about_file, load_npy, load_npz
from gradscope.files.checkpoints import load_state_dict, recurrent_prefixes, select_recurrent
from gradscope.files.output import (
    check_distinct_outputs,
    check_output_dir,
    check_output_path,
    same_file,
    to_json,
    write_bytes_atomic,
    write_text_atomic,
)
from gradscope.files.problem_files import ProblemFiles, load_inputs, load_problem_files, load_state, load_weights

__all__ = [
    "FileError",
    "ProblemFiles",
    "about_file",
    "check_distinct_outputs",
    "check_output_dir",
    "check_output_path",
    "load_inputs",
    "load_npy",
    "load_npz",
    "load_problem_files",
    "load_state",
    "load_state_dict",
    "load_weights",
    "recurrent_prefixes",
    "same_file",
    "select_recurrent",
    "to_json",
    "write_bytes_atomic",
    "write_text_atomic",
]

"""The minimal programs of tests/compile_truth/ (from the program generator and from writing
today's architectures): each one `check` accepts compiles to a module that agrees with it,
built with its defaults and with other values of the hyperparameters it offers, and that
torch.fx and TorchScript accept (tests/differential.py). The programs torch runs are accepted
by `check`.

Those not fixed yet are strict xfails with the class of the failure: one that starts to pass
fails the run until it is moved out of KNOWN.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from differential import disagreements

import netdsl

CASES = sorted((Path(__file__).resolve().parent / "compile_truth").glob("*.net"))

# case -> what still goes wrong (see the comment at the top of each file)
KNOWN = {
    "02_caller_names_callee_hp": "a size after an inner block named with the callee's name",
    "03_block_local_max_exit3": "check crashes on a block local bound to max(...)",
    "04_untaken_branch_opaque_size_exit3": "compile crashes on an untaken branch's opaque size",
    "14_block_loop_opaque_width": "a loop in a block with an opaque width",
    "17_tuple_rebind": "rebinding a name to a tuple changes its earlier uses",
    "18_symbolic_dim_as_block_hp_exit3": "a symbolic dimension as a block hyperparameter",
    "20_block_return_multi_output": "a block returning a multi-output layer",
    "20b_block_multi_output_chained": "a block ending in a multi-output layer, chained",
    "20c_network_return_multi_output": "a network returning a multi-output layer",
    "21_constant_index_out_of_range": "check accepts constant indices out of range",
    "22_loop_count_hp_symbolic_exit3": "check crashes on a loop that makes T known",
    "23_compile_refuses_checked_block": "a block used with two loop counts",
    "24_ceil_mode_symbolic_shape": "ceil_mode printed with the floor formula",
    "25_step_slice_symbolic_shape_text": "a step slice of a symbolic size printed as no formula",
    "26_local_bound_in_untaken_branch": "a local bound only in an untaken branch",
    "R1_reverse_chunk_symbolic": "check refuses chunk(2) of 16*T, which torch runs",
    "f_block_loop_count": "a block used with two loop counts",
    "f_bound_max_check_crash": "check crashes on a block local bound to max(...)",
    "f_bound_rep2": "a bound layer repeated with a count and two inputs",
    "f_cascade": "check refuses a loop over a symbolic size",
    "f_intstage": "check refuses int(x) on a tensor",
    "f_loop_len": "a written-out loop over a size the network's hyperparameter sets",
    "f_mobilenet_v3_block_exit3": "compile crashes on a size of a block in an untaken branch",
    "f_repeat_int_float": "a block used with two repeat counts",
    "f_sdpa_heads1_in_features": "a size after attention and rearrange at heads=1",
    "f_symmul": "check refuses a symbolic size times a tensor",
    "f_ternary_max_compile_crash": "check crashes on a block local bound to max(...)",
}


def params() -> list:
    out = []
    for path in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=KNOWN[path.stem])] \
            if path.stem in KNOWN else []
        out.append(pytest.param(path, marks=marks, id=path.stem))
    return out


def test_every_known_failure_is_a_case() -> None:
    assert set(KNOWN) <= {p.stem for p in CASES}


@pytest.mark.parametrize("path", params())
def test_compiled_module_agrees_with_check(path: Path) -> None:
    source = path.read_text()
    try:
        netdsl.check_source(source, path.name)
    except netdsl.NetDSLError as err:
        pytest.fail(f"check rejects a program torch runs: {err}")
    findings = disagreements(source, tools=("fx", "jit"))
    assert not findings, "\n".join(map(str, findings))

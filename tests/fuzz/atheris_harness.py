"""Coverage-guided fuzzing of netdsl with atheris, for long runs by hand:

    pip install atheris
    python tests/fuzz/atheris_harness.py -max_total_time=600 -dict=tests/fuzz/netdsl.dict \
        tests/fuzz/corpus

The properties are those tests/test_fuzz.py checks: any text either checks (and then
compiles to valid Python and DOT) or raises NetDSLError with every diagnostic located.
Anything else is a crash that atheris reports with the input that caused it. Seeds: the
examples (copied into the corpus directory on first run).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    # the whole pipeline, imported here: netdsl imports it lazily otherwise, and atheris
    # instruments only what is imported inside this block
    import netdsl
    import netdsl.backends.dot
    import netdsl.backends.pytorch
    import netdsl.check
    import netdsl.parser
    import netdsl.program

HERE = Path(__file__).resolve().parent


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")  # the input is the source text itself
    try:
        program = netdsl.check_source(text, "fuzz.net")
    except netdsl.NetDSLError as err:
        for d in err.diagnostics:
            if d.line < 1 or d.column < 1:
                raise AssertionError(f"unlocated diagnostic: {d.message}") from None
        return
    if program.networks:
        compile(netdsl.to_pytorch(program), "<generated>", "exec")
    netdsl.to_dot(program)


def main() -> None:
    corpus = HERE / "corpus"
    if not corpus.exists():
        corpus.mkdir()
        for example in (HERE.parent.parent / "examples").glob("*.net"):
            shutil.copy(example, corpus / example.name)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

"""Coverage-guided fuzzing of netdsl with atheris, for long runs by hand:

    pip install atheris
    python tests/fuzz/atheris_harness.py -max_total_time=600 -dict=tests/fuzz/netdsl.dict \
        tests/fuzz/corpus

The properties are those tests/test_fuzz.py checks: any text either checks (and then
compiles to valid Python and DOT) or raises NetDSLError with every diagnostic located; and
what netdsl/lalr.py parses, Lark parses to the same tree.
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
    import netdsl.checker
    import netdsl.lalr
    import netdsl.parser
    import netdsl.program

HERE = Path(__file__).resolve().parent


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")  # the input is the source text itself
    same_tree_from_both_parsers(text)
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


def same_tree_from_both_parsers(text: str) -> None:
    from netdsl.errors import SourceError
    from netdsl.parser import _driver, _parse_fast, _parse_with_lark

    if "\x00" in text or not text.endswith("\n"):
        return  # refused or completed by parse() before either parser sees it
    driver = _driver()
    fast = _parse_fast(driver, text, "fuzz.net") if driver else None
    if fast is None:
        return
    try:
        slow, _ = _parse_with_lark(text, "fuzz.net")
    except SourceError:
        raise AssertionError("the LALR driver took what Lark rejects") from None
    if repr(slow) != repr(fast):
        raise AssertionError("the LALR driver and Lark built different trees")


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

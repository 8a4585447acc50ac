"""netdsl in IPython and Jupyter: `%load_ext netdsl` registers the `%%netdsl` cell magic.

    %%netdsl --name model.net
    network Cifar10(x: [B, 3, 32, 32]):
        x -> conv(32, 5, padding=2) -> ...

checks the cell and shows each network's layer table and the diagram. Errors are shown as
`netdsl check` prints them (file:line:col, the line, a caret, the derivation), without a
Python traceback, and the cell counts as failed. When torch is installed, the generated
nn.Module classes (every network and block) are bound in the notebook's namespace.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from .errors import NetDSLError
from .htmlview import diagnostics_text, program_html
from .program import Program, parse_input_override

DEFAULT_NAME = "<cell>"  # like `<string>`: imports are then relative to the working directory


class NetdslCellError(Exception):
    """The cell's source has errors. IPython shows `_render_traceback_`'s lines instead of a
    traceback, so the notebook shows the diagnostics as `netdsl check` prints them."""

    def __init__(self, text: str, error: NetDSLError | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.error = error

    def _render_traceback_(self) -> list[str]:
        return self.text.splitlines()


@magics_class
class NetdslMagics(Magics):  # type: ignore[misc]  # IPython has no type hints
    @magic_arguments()  # type: ignore[misc]
    @argument("--name", "-n", default=DEFAULT_NAME,
              help="The file name used in messages; imports are relative to its folder.")
    @argument("--input", "-i", action="append", default=[], metavar="NAME=SHAPE",
              help="Override a declared input shape, e.g. x=[8,3,64,64] (repeatable).")
    @argument("--collapse", action="store_true", default=None,
              help="Draw each block use as one node (the default above 150 layers).")
    @argument("--expand", action="store_false", dest="collapse",
              help="Draw every layer, however many.")
    @argument("--no-diagram", action="store_true", help="Show the table only.")
    @argument("--no-build", action="store_true",
              help="Do not bind the generated nn.Module classes (they need torch).")
    @cell_magic  # type: ignore[misc]
    def netdsl(self, line: str, cell: str) -> None:
        """Check the cell's netdsl source; show the layer tables and the diagram; bind the
        generated classes in the notebook's namespace (when torch is installed)."""
        options = parse_argstring(self.netdsl, line)
        program = check_cell(cell, options.name, options.input)
        display({"text/plain": text_report(program),
                 "text/html": program_html(program, diagram=not options.no_diagram,
                                           collapse=options.collapse)}, raw=True)
        if not options.no_build and torch_installed():
            shell: Any = self.shell
            shell.user_ns.update(generated_classes(program))


def check_cell(cell: str, name: str, inputs: list[str]) -> Program:
    """The checked program, or NetdslCellError with the diagnostics' text."""
    import netdsl

    overrides: dict[str, list[Any]] = {}
    for text in inputs:
        try:
            input_name, dims = parse_input_override(text)
        except ValueError as exc:
            raise NetdslCellError(f"%%netdsl: --input: {exc}") from None
        overrides[input_name] = dims
    try:
        return netdsl.check_source(cell, name, overrides)
    except NetDSLError as error:
        raise NetdslCellError(diagnostics_text(error.diagnostics, error.sources),
                              error) from None


def text_report(program: Program) -> str:
    from .report import table

    text = table(program)
    if program.warnings:
        text += "\n\n" + diagnostics_text(program.warnings, program.sources)
    return text


def torch_installed() -> bool:
    return importlib.util.find_spec("torch") is not None


def generated_classes(program: Program) -> dict[str, type]:
    """Every network of the program and every block they use, as classes of one generated
    module, so that a network's blocks are the very classes bound beside it."""
    import netdsl

    if not program.networks:  # the generated module holds the blocks networks use, so none
        return {}
    first = netdsl.build(program, program.networks[0].definition.name)
    # the namespace of the module netdsl.build compiled, where the class was defined
    module = first.__init__.__globals__  # type: ignore[misc]
    return {name: module[name] for name in program.definitions if isinstance(
        module.get(name), type)}


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext netdsl` (through netdsl.load_ipython_extension)."""
    ipython.register_magics(NetdslMagics)

"""netdsl: a small language for neural networks, checked for shapes before training.

    import netdsl
    program = netdsl.check_file("model.net")      # parse, resolve, check (no torch import)
    netdsl.to_pytorch(program)                     # nn.Module source
    netdsl.to_dot(program)                         # Graphviz source
    netdsl.build(program, "Cifar10")               # the generated class, loaded in memory
"""

# Only the API is public here: the imports below are bound to private names (and there is
# no `from __future__ import annotations`, which would bind `annotations`), so that
# dir(netdsl) lists what __all__ lists, plus the submodules Python binds as they load.
import typing as _typing
from pathlib import Path as _Path

from .errors import Diagnostic, NetDSLError, Pos

if _typing.TYPE_CHECKING:
    from .program import Program

__all__ = [
    "Diagnostic",
    "NetDSLError",
    "Pos",
    "Program",
    "build",
    "check_file",
    "check_source",
    "to_dot",
    "to_pytorch",
]
__version__ = "0.1.0"


def check_source(text: str, filename: str = "<string>",
                 inputs: "dict[str, list[_typing.Any]] | None" = None) -> "Program":
    """Parse and check source text. Raises NetDSLError listing every problem, and ValueError
    when `inputs` names an input that no network has."""
    if not isinstance(text, str):
        raise TypeError("check_source takes the source text as a str")
    from .program import check  # imported on first use: `netdsl --help` needs none of it

    try:
        return check(text, filename, inputs)
    except RecursionError:
        raise NetDSLError([Diagnostic("the program is nested too deeply to check",
                                      Pos(filename, 1, 1))]) from None


def check_file(path: "str | _Path",
               inputs: "dict[str, list[_typing.Any]] | None" = None) -> "Program":
    """Read, parse and check a .net file (imports are relative to it). Raises OSError when
    the path names no file netdsl reads (missing, unreadable, not a regular file, over 4 MB),
    NetDSLError for the problems of its text."""
    from .program import read_source

    path = _Path(path)
    try:
        text = read_source(path)
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise NetDSLError([Diagnostic("the file is not UTF-8 text",
                                      Pos(str(path), line, 1, line, 1))]) from None
    return check_source(text, str(path), inputs)


def __getattr__(name: str) -> _typing.Any:
    if name == "Program":
        from .program import Program

        return Program
    raise AttributeError(f"module 'netdsl' has no attribute {name!r}")


def load_ipython_extension(ipython: "_typing.Any") -> None:
    """`%load_ext netdsl` in IPython or Jupyter: the `%%netdsl` cell magic (netdsl.notebook)."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def to_pytorch(program: "Program") -> str:
    """The PyTorch module source for every network and block of a checked program."""
    from .backends.pytorch import write
    from .errors import SourceError
    from .lower import lower

    try:
        module = lower(program)
    except SourceError as err:  # what the checked program asks of code generation, located
        raise NetDSLError([err.diagnostic], program.sources, program.warnings) from None
    return write(module).source


def to_dot(program: "Program", **options: _typing.Any) -> str:
    """The Graphviz DOT source of every network of a checked program."""
    from .backends.dot import generate

    return generate(program, **options)


def build(program: "Program", name: str) -> type:
    """Compile the generated code in memory and return the nn.Module class `name`."""
    from .backends.pytorch import load_class, write
    from .errors import SourceError
    from .lower import lower

    known = [net.definition.name for net in program.networks]
    try:
        module = lower(program)
    except SourceError as err:
        raise NetDSLError([err.diagnostic], program.sources, program.warnings) from None
    return load_class(write(module), name, program.file, known)

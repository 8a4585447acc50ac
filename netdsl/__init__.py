"""netdsl: a small language for neural networks, checked for shapes before training.

    import netdsl
    program = netdsl.check_file("model.net")      # parse, resolve, check (no torch import)
    netdsl.to_pytorch(program)                     # nn.Module source
    netdsl.to_dot(program)                         # Graphviz source
    netdsl.build(program, "Cifar10")               # the generated class, loaded in memory
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import Diagnostic, NetDSLError, Pos

if TYPE_CHECKING:
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
                 inputs: dict[str, list[Any]] | None = None) -> Program:
    """Parse and check source text. Raises NetDSLError listing every problem."""
    if not isinstance(text, str):
        raise TypeError("check_source takes the source text as a str")
    from .program import check  # imported on first use: `netdsl --help` needs none of it

    return _guard(lambda: check(text, filename, inputs), filename)


def check_file(path: str | Path, inputs: dict[str, list[Any]] | None = None) -> Program:
    """Read, parse and check a .net file (imports are relative to it)."""
    path = Path(path)
    where = Pos(str(path), 1, 1, 1, 1)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NetDSLError([Diagnostic("no such file", where)]) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise NetDSLError([Diagnostic("the file is not UTF-8 text",
                                      Pos(str(path), line, 1, line, 1))]) from None
    except OSError as exc:
        raise NetDSLError([Diagnostic(f"cannot read it: {exc.strerror or exc}", where)]) from None
    return check_source(text, str(path), inputs)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Checking makes many small objects that all live until it ends, so the cyclic garbage
    collector's passes over them free nothing; on long inputs they cost a third of the time.
    The collector is paused meanwhile and restored as it was.

    Restored, it would at once walk every object made meanwhile (it counts them as young):
    a walk over the whole checked program, 12% of the time on long inputs and more than
    linear in their length once the objects outgrow the CPU's caches. Instead they are moved
    to the oldest generation, where long-lived data belongs, by `gc.freeze()` and
    `gc.unfreeze()` (two list splices, whatever the number of objects). So that only the
    check's objects move, the caller's young generations are first collected as the
    collector would collect them; moved along unexamined, the caller's garbage cycles would
    wait for a full collection that a loop of checks never brings on. All of it is skipped
    when the process has frozen objects of its own: unfreezing would thaw them."""
    was_enabled = gc.isenabled()
    promote = was_enabled and not gc.get_freeze_count()
    if promote:
        gc.collect(1)
    gc.disable()
    try:
        yield
    finally:
        if promote:
            gc.freeze()
            gc.unfreeze()
        if was_enabled:
            gc.enable()


def _guard(run: Any, filename: str) -> Any:
    try:
        with _collector_paused():
            return run()
    except RecursionError:
        raise NetDSLError([Diagnostic("the program is nested too deeply to check",
                                      Pos(filename, 1, 1))]) from None


def __getattr__(name: str) -> Any:
    if name == "Program":
        from .program import Program

        return Program
    raise AttributeError(f"module 'netdsl' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext netdsl` in IPython or Jupyter: the `%%netdsl` cell magic (netdsl.notebook)."""
    from .notebook import load_ipython_extension as load

    load(ipython)


def to_pytorch(program: Program) -> str:
    """The PyTorch module source for every network and block of a checked program."""
    from .backends.pytorch import generate

    return generate(program)


def to_dot(program: Program, **options: Any) -> str:
    """The Graphviz DOT source of every network of a checked program."""
    from .backends.dot import generate

    return generate(program, **options)


def build(program: Program, name: str) -> type:
    """Compile the generated code in memory and return the nn.Module class `name`."""
    from .backends.pytorch import load_class

    return load_class(program, name)

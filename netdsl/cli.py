"""The command line: a thin layer over the Python API.

`Exit` owns the exit codes. Every command reads the source, calls one pure
function, and writes its result atomically; source problems are printed to
standard error as located diagnostics, never as a traceback.
"""

from __future__ import annotations

import gc
import os
import stat
import sys
from collections.abc import Iterable
from enum import IntEnum
from pathlib import Path
from typing import Any, NoReturn

import click

EXAMPLES = """\b
Examples:
  netdsl check model.net                 layer table: shapes and parameters
  netdsl check model.net --json          the same as JSON
  netdsl check model.net --input x=[8,3,64,64]
  netdsl check model.net --depth 1       block uses as one row each
  netdsl compile model.net               writes model.py (an nn.Module)
  netdsl compile model.net -o -          prints the module
  netdsl diagram model.net -o model.png  draws the network with Graphviz
  netdsl fmt model.net                   rewrites it in the canonical layout
"""


class Exit(IntEnum):
    OK = 0
    SOURCE = 1  # the source has errors (printed to standard error)
    USAGE = 2  # a wrong command line (click's own usage errors use 2 as well)
    INTERNAL = 3  # a bug in netdsl: reported in one line, never as a traceback


class Command(click.Group):
    """Turns an unexpected exception into one line and Exit.INTERNAL."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            click.echo(f"netdsl: internal error ({type(exc).__name__}: {exc}); this is a bug "
                       f"in netdsl, please report it with the input that caused it", err=True)
            sys.exit(int(Exit.INTERNAL))


def fail(code: Exit, message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(int(code))


def report_error(error: Any) -> NoReturn:
    click.echo(error.render(), err=True)
    count = len(error.diagnostics)
    if count > 1:
        click.echo(f"\n{count} errors", err=True)
    sys.exit(int(Exit.SOURCE))


def print_warnings(program: Any) -> None:
    for warning in program.warnings:
        click.echo(warning.render(program.sources), err=True)


def input_overrides(inputs: tuple[str, ...]) -> dict[str, list[Any]]:
    """--input NAME=[d1, d2, ...] options, or a usage error."""
    from netdsl.program import parse_input_override

    overrides: dict[str, list[Any]] = {}
    for text in inputs:
        try:
            name, dims = parse_input_override(text)
        except ValueError as exc:
            fail(Exit.USAGE, f"netdsl: --input: {exc}")
        overrides[name] = dims
    return overrides


def check_file(path: str, overrides: dict[str, list[Any]]) -> Any:
    """netdsl.check_file, with the command line's own mistakes as usage errors: a FILE that
    netdsl cannot read, an --input that names no input. Located errors are for source text."""
    import netdsl
    from netdsl.program import UnknownInput

    try:
        return netdsl.check_file(path, overrides)
    except OSError as exc:
        reason = "no such file" if isinstance(exc, FileNotFoundError) else (
            exc.strerror.lower() if exc.strerror else str(exc))
        fail(Exit.USAGE, f"netdsl: cannot read {path}: {reason}")
    except UnknownInput as exc:
        fail(Exit.USAGE, f"netdsl: --input: {exc}")


def load(path: str, inputs: tuple[str, ...] = ()) -> Any:
    import netdsl

    overrides = input_overrides(inputs)
    try:
        return check_file(path, overrides)
    except netdsl.NetDSLError as error:
        report_error(error)


def refuse_unsafe_output(target: Path, sources: Iterable[str]) -> None:
    """Outputs go to regular files or new paths: replacing a device, a FIFO or a directory
    (os.replace would, as root even /dev/null) or a source of the program is a usage error."""
    try:
        info = os.stat(target)
    except OSError:
        return  # a new path (or one the write itself will report)
    if not stat.S_ISREG(info.st_mode):
        fail(Exit.USAGE, f"netdsl: refusing to write {target}: it exists and is not a "
                         f"regular file; name a file or a new path")
    for source in sources:
        try:
            if os.path.samefile(source, target):
                fail(Exit.USAGE, f"netdsl: refusing to overwrite the source {source}; name "
                                 f"another output with -o")
        except OSError:
            continue


def write_atomically(target: Path, data: str | bytes) -> None:
    """Write beside the target, then rename: a failure never leaves half a file."""
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        fail(Exit.USAGE, f"netdsl: cannot write {target}: directory {directory} does not exist")
    try:
        import tempfile  # only when writing

        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=directory)
    except OSError as exc:
        fail(Exit.USAGE, f"netdsl: cannot write {target}: {exc.strerror or exc}")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would surprise anyone sharing the file
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        fail(Exit.USAGE, f"netdsl: cannot write {target}: {exc.strerror or exc}")


@click.group(cls=Command, invoke_without_command=True, epilog=EXAMPLES,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="netdsl", message="netdsl %(version)s")
@click.pass_context
def main(ctx: click.Context) -> None:
    """netdsl: describe a neural network in a few lines, know every tensor shape before
    training, and get PyTorch code and a diagram."""
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@main.command(epilog="\b\nExample:\n  netdsl check examples/cifar10.net --json")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "inputs", multiple=True, metavar="NAME=SHAPE",
              help="Override a declared input shape, e.g. x=[8,3,64,64].")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="Show block uses nested N deep as one row (as torchinfo's depth).")
@click.option("--optimizer", type=click.Choice(["sgd", "sgd-momentum", "adam", "adamw"]),
              default="adam", show_default=True,
              help="The optimiser whose state the training-memory estimate counts.")
def check(file: str, inputs: tuple[str, ...], as_json: bool, depth: int | None,
          optimizer: str) -> None:
    """Parse and check FILE; print each network's layers, shapes, parameters and costs."""
    import netdsl
    from netdsl.report import dumps, table, to_json

    if not as_json:
        program = load(file, inputs)
        click.echo(table(program, depth, optimizer))
        print_warnings(program)
        return
    overrides = input_overrides(inputs)
    try:
        program = check_file(file, overrides)
    except netdsl.NetDSLError as error:
        click.echo(dumps(to_json(file, None, error.diagnostics, error.warnings)))
        sys.exit(int(Exit.SOURCE))
    click.echo(dumps(to_json(file, program, [], program.warnings)))


@main.command(epilog="\b\nExample:\n  netdsl compile examples/unet.net -o unet.py")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", metavar="OUT.py",
              help="Where to write the module ('-' for standard output). "
                   "Default: FILE with .py.")
def compile(file: str, output: str | None) -> None:
    """Compile FILE to a PyTorch module (writes nothing when there is an error)."""
    import netdsl

    program = load(file)
    try:
        source = netdsl.to_pytorch(program)
    except netdsl.NetDSLError as error:
        report_error(error)
    print_warnings(program)
    if output == "-":
        click.echo(source, nl=False)
        return
    target = Path(output) if output else Path(file).with_suffix(".py")
    refuse_unsafe_output(target, program.sources)
    write_atomically(target, source)
    click.echo(f"wrote {target}", err=True)


@main.command(epilog="\b\nExample:\n  netdsl diagram examples/unet.net -o unet.svg --collapse")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", metavar="OUT.svg",
              help="Output file; its suffix picks the format: .svg .png .pdf .dot "
                   "(default: FILE with .svg).")
@click.option("--collapse", is_flag=True, help="Draw each block use as one node.")
@click.option("--rankdir", type=click.Choice(["TB", "LR"]), default="TB", show_default=True,
              help="Top to bottom or left to right.")
@click.option("--cost", is_flag=True, help="Write each layer's FLOPs (per sample) on it.")
def diagram(file: str, output: str | None, collapse: bool, rankdir: str, cost: bool) -> None:
    """Draw FILE's networks with Graphviz."""
    from netdsl.backends.dot import FORMATS, render

    program = load(file)
    target = Path(output) if output else Path(file).with_suffix(".svg")
    fmt = target.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        fail(Exit.USAGE, f"netdsl: cannot tell the format of {target}; use one of "
                         + ", ".join("." + f for f in FORMATS))
    import netdsl

    dot_source = netdsl.to_dot(program, collapse=collapse, rankdir=rankdir, cost=cost)
    data, note = render(dot_source, fmt)
    if data is None:
        target = target.with_suffix(".dot")
        data = dot_source
    refuse_unsafe_output(target, program.sources)
    write_atomically(target, data)
    click.echo(f"wrote {target}", err=True)
    if note:
        click.echo(note, err=True)


@main.command(epilog="\b\nExample (what an editor runs):\n  netdsl lsp")
def lsp() -> None:
    """Run the language server on standard input and output, for editors: diagnostics,
    hover with shapes, go to definition, completion, symbols and formatting."""
    try:
        from netdsl.lsp import serve
    except ImportError as exc:
        if exc.name not in ("pygls", "lsprotocol", "cattrs", "attrs"):
            raise
        fail(Exit.USAGE, f"netdsl lsp needs pygls and lsprotocol ({exc}): "
                         f"pip install 'netdsl[lsp]'")
    gc.enable()  # run() turned the collector off for one-shot commands; a server runs for hours
    sys.exit(serve())


@main.command(name="fmt", epilog="\b\nExamples:\n  netdsl fmt examples/*.net\n"
                                 "  netdsl fmt --check --diff model.net\n  netdsl fmt - < in.net")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; list the files that would change and exit 1 if any would.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Write nothing; print what would change as a unified diff.")
def fmt(files: tuple[str, ...], check_only: bool, show_diff: bool) -> None:
    """Lay out FILEs in netdsl's one canonical format, every comment kept ('-': standard input
    to standard output). A file that does not parse is reported and left alone."""
    import netdsl
    from netdsl.fmt import format_file, format_source, unified_diff

    failed = False
    for file in files:
        try:
            if file == "-":
                before = sys.stdin.read()
                after = format_source(before, "<stdin>")
            else:
                before, after = format_file(file)
        except netdsl.NetDSLError as error:
            click.echo(error.render(), err=True)
            failed = True
            continue
        name = "<stdin>" if file == "-" else file
        if show_diff and before != after:
            click.echo(unified_diff(before, after, name), nl=False)
        if check_only or show_diff:
            if check_only and before != after:
                click.echo(f"would reformat {name}", err=True)
                failed = True
        elif file == "-":
            click.echo(after, nl=False)
        elif before != after:
            write_atomically(Path(file), after)
            click.echo(f"reformatted {file}", err=True)
    if failed:
        sys.exit(int(Exit.SOURCE))


def run() -> NoReturn:
    """The `netdsl` command: `main`, then a hard exit. Once the output is flushed nothing is
    left to do, but tearing the interpreter down (freeing every object one by one) would
    cost ~15 ms, a tenth of a `check`; mypy ends the same way. The API and the tests call
    `main`, which returns normally.

    For the same reason the cyclic garbage collector stays off: the process does one job,
    whose objects all live until this exit, so its passes would free nothing."""
    gc.disable()
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`netdsl check m.net | head`)
            code = code or 1
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()

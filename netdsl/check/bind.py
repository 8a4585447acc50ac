"""Argument binding: layers and blocks configured from what the source wrote."""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from .. import nodes as n
from .. import shapes as s
from ..catalogue import (
    NO_FORWARD,
    NOT_MODULES,
    REQUIRED,
    TORCH_CLASSES,
    LayerSpec,
    Param,
)
from ..dims import (
    Ref,
    SInt,
)
from ..errors import Pos, SourceError
from ..values import (
    POISON,
    BlockFactory,
    BlockValue,
    LayerFactory,
    LayerValue,
    Poison,
    Repeated,
    Tensor,
    TorchFactory,
    describe,
)
from .diagnostics import did_you_mean, suggest
from .scope import Frame, is_int, primary

if TYPE_CHECKING:
    from .checker import Checker


NOTHING_GIVEN: frozenset[str] = frozenset()  # shared by every layer written without arguments


TORCH_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")


def _is_tensors(value: Any) -> bool:
    return isinstance(primary(value), Tensor) or (
        isinstance(value, tuple) and any(isinstance(v, Tensor) for v in value))


_PLAIN = frozenset({int, SInt, bool, float, str, type(None)})  # argument values that are atoms

_FLAGS: dict[int, tuple[LayerSpec, tuple[str, ...]]] = {}  # id(spec) -> its flags' names


_BARE_ARGS: dict[int, tuple[LayerSpec, dict[str, Any]]] = {}  # see Binding.bare_args
_REQUIRED: dict[int, tuple[LayerSpec, int]] = {}  # id(spec) -> how many arguments it needs


def _required_count(spec: LayerSpec) -> int:
    cached = _REQUIRED.get(id(spec))
    if cached is None or cached[0] is not spec:
        cached = _REQUIRED[id(spec)] = (spec, sum(1 for p in spec.signature
                                                  if p.default is REQUIRED and not p.star))
    return cached[1]


def _flags(spec: LayerSpec) -> tuple[str, ...]:
    """The arguments of a catalogue entry whose default is true or false, found once per
    entry (the entry is kept beside its id, so that a new entry at a reused id is not
    taken for the old one)."""
    cached = _FLAGS.get(id(spec))
    if cached is None or cached[0] is not spec:
        cached = _FLAGS[id(spec)] = (spec, tuple(p.name for p in spec.signature
                                                 if isinstance(p.default, bool)))
    return cached[1]


def _could_be(value: Any, default: Any) -> bool:
    """Whether a positional value can be the argument whose default is `default`: a flag
    takes a bool, a count an int (or a tuple of them), a rate a number, a mode a string."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if isinstance(default, int):
        return is_int(value) or (isinstance(value, tuple) and all(map(is_int, value)))
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


class Binding:
    """Argument binding: configuring layers and blocks from what the source wrote."""

    @staticmethod
    def torch_factory(name: str, pos: Pos) -> TorchFactory:
        if not TORCH_CLASS_NAME.fullmatch(name):
            close = suggest(name, TORCH_CLASSES) or suggest(name.capitalize(), TORCH_CLASSES)
            raise SourceError(f"nn.{name} is not a torch.nn class name (those are CamelCase, "
                              f"like nn.Conv2d)", pos,
                              fix=f"did you mean nn.{close}?" if close else None)
        if name in NOT_MODULES:
            raise SourceError(f"nn.{name} is not an nn.Module class, so it is not a layer: a "
                              f"stage must be a layer or a block (learnable tensors of their "
                              f"own come with parameter(...))", pos)
        if name in NO_FORWARD:
            raise SourceError(f"nn.{name} has no forward of its own, so it cannot be applied to "
                              f"a tensor", pos)
        return TorchFactory(name, TORCH_CLASSES.get(name))

    def configure(self: Checker, factory: Any, args: Sequence[n.Expr], kwargs: Sequence[n.Keyword],
                  site: Any, pos: Pos, frame: Frame, inputs: list[Any] | None = None) -> Any:
        label = self.label(pos) or self.factory_name(factory)
        values = [(self.eval(a, frame), a) for a in args]
        kw_values = [(k.name, self.eval(k.value, frame), k) for k in kwargs]
        for value, expr in values + [(v, k.value) for _, v, k in kw_values]:
            if value.__class__ in _PLAIN:  # a number, flag or string: none of the cases below
                continue
            if isinstance(value, Poison):
                return POISON
            if _is_tensors(value):
                name = self.factory_name(factory)
                fix = self.as_stage(factory.spec, values, kw_values) if isinstance(
                    site, n.Call) and isinstance(factory, LayerFactory) else None
                raise SourceError(
                    f"the parentheses of {name} hold its arguments, never tensors",
                    expr.pos, fix=f"write {fix}" if fix else None, fix_pos=site.pos)
            if isinstance(value, (LayerValue, BlockValue, LayerFactory, BlockFactory,
                                  TorchFactory, Repeated)):
                raise SourceError(f"{describe(value)} cannot be an argument", expr.pos)
        if (values or kw_values) and isinstance(factory, (LayerFactory, TorchFactory)) and (
                factory.spec is not None):
            self.check_integer_args(factory, values, kw_values, label, pos)
        if isinstance(factory, LayerFactory):
            spec = factory.spec
            if spec.inferred:
                self.check_pytorch_order(spec, values, kw_values, pos, inputs)
            if values or kw_values:
                bound, given = self.bind_args(spec.signature, spec.inferred, values, kw_values,
                                              spec.name, pos)
                self.check_flags(spec, bound, given, values, kw_values)
            else:  # `-> relu`, `-> batchnorm`: the entry's defaults, bound once per entry
                bound, given = self.bare_args(spec, pos), NOTHING_GIVEN
            lv = LayerValue(spec, bound, given, label, pos, site)
            if args or kwargs:
                lv.arg_refs, lv.flag_refs = self.argument_refs(values, kw_values, frame)
            return lv
        if isinstance(factory, TorchFactory):
            seen_keywords: set[str] = set()
            for name, _, kw in kw_values:  # written into the generated call as they are
                if keyword.iskeyword(name) or not name.isidentifier():
                    raise SourceError(f"{name!r} cannot name an argument: it is a Python "
                                      f"keyword", kw.pos)
                if name in seen_keywords:
                    raise SourceError(f"nn.{factory.cls} got {name!r} twice", kw.pos)
                seen_keywords.add(name)
            if factory.spec is None:
                return LayerValue(None, {}, set(), label, pos, site, torch_cls=factory.cls,
                                  torch_args=([v for v, _ in values],
                                              {k: v for k, v, _ in kw_values}))
            spec = factory.spec
            bound, given = self.bind_args(spec.torch_signature, (), values, kw_values,
                                          f"nn.{factory.cls}", pos)
            given_inferred = {name for name in spec.inferred if bound.get(name) is not REQUIRED}
            for name in spec.inferred:
                if bound.get(name) is REQUIRED:
                    bound.pop(name)
            for name, default in spec.overrides.items():
                if name not in given:
                    bound[name] = default if factory.cls not in spec.classes else bound[name]
            lv = LayerValue(spec, bound, given | given_inferred, label, pos, site,
                            torch_cls=factory.cls)
            if args or kwargs:
                lv.arg_refs, lv.flag_refs = self.argument_refs(values, kw_values, frame)
            return lv
        d = factory.definition
        sig = tuple(Param(p.name, REQUIRED if p.default is None else p.default)
                    for p in d.hyperparams)
        if not d.hyperparams and (values or kw_values):
            raise SourceError(f"block {d.name} takes no hyperparameters", pos,
                              fix=f"apply it with `-> {d.name}`")
        bound, given = self.bind_args(sig, (), values, kw_values, d.name, pos, defaults=False)
        hyper = self.block_hyper(d, bound, frame)
        bv = BlockValue(d, hyper, given, site if isinstance(site, n.Call) else None, label, pos,
                        site)
        if values or kw_values:
            written = [e for _, e in values] + [k.value for _, _, k in kw_values]
            names = [p.name for p in d.hyperparams[:len(values)]] + [k for k, _, _ in kw_values]
            bv.hyper_deps = {name: self.value_refs(e, frame) | frame.control
                             for name, e in zip(names, written, strict=True)}
        return bv

    def bare_args(self: Checker, spec: LayerSpec, pos: Pos) -> dict[str, Any]:
        """The arguments of a layer written without any: its defaults, the same for every
        use of the entry, so bound once and shared (arguments are never written once
        bound). An entry that needs an argument raises here at each use, as bind_args does."""
        cached = _BARE_ARGS.get(id(spec))
        if cached is None or cached[0] is not spec:
            bound, _ = self.bind_args(spec.signature, spec.inferred, [], [], spec.name, pos)
            cached = _BARE_ARGS[id(spec)] = (spec, bound)
        return cached[1]

    def argument_refs(self: Checker, values: list[tuple[Any, n.Expr]],
                      kw_values: list[tuple[str, Any, n.Keyword]],
                      frame: Frame) -> tuple[frozenset[Ref], frozenset[Ref]]:
        """The names a layer's arguments depend on: all of them, and those of arguments that
        are not sizes (a flag such as bidirectional decides sizes no expression follows)."""
        every: set[Ref] = set()
        flags: set[Ref] = set()
        for value, e in [*values, *((v, k.value) for _, v, k in kw_values)]:
            if isinstance(e, (n.Number, n.String, n.Constant)):
                continue
            found = self.value_refs(e, frame) | frame.control
            every.update(found)
            if not is_int(value):
                flags.update(found)
        return frozenset(every), frozenset(flags)

    def check_pytorch_order(self: Checker, spec: LayerSpec, values: list[tuple[Any, n.Expr]],
                            kw_values: list[tuple[str, Any, n.Keyword]], pos: Pos,
                            inputs: list[Any] | None) -> None:
        """A layer whose input sizes are inferred takes only its required arguments by
        position: `batchnorm(16)` or `conv(3, 32, 5)` in PyTorch's order would otherwise
        silently mean something else (eps=16; a kernel of 32). The fix keeps every argument
        the user wrote: the inferred sizes are dropped when they are PyTorch's (they equal
        the input's), and the arguments after the required ones get their names."""
        if len(values) <= _required_count(spec):
            return
        required = [p.name for p in spec.signature if p.default is REQUIRED and not p.star]
        extra = values[len(required)][1]
        inferred = ", ".join(spec.inferred)
        if required:
            takes = (f"{spec.name} takes {len(required)} positional argument"
                     f"{'s' if len(required) > 1 else ''} ({', '.join(required)}); "
                     f"the others go by name")
            shown = f"{spec.name}({', '.join(required)}, ...) here"
        else:
            takes = f"{spec.name} takes its arguments by name"
            shown = (f"{spec.name} here; {spec.name}({spec.inferred[0]}=...) only checks the "
                     f"size")
        torch_names = ", ".join([*spec.inferred, *required])
        cls = spec.classes[len(spec.classes) // 2] if spec.classes else spec.name  # the 2d one
        notes = [f"netdsl infers {inferred} from the input, so PyTorch's "
                 f"{cls}({torch_names}, ...) is {shown}"]
        n_inferred = len(spec.inferred)
        as_torch = self.rewrite_positional(spec, values[n_inferred:], kw_values) if len(
            values) >= n_inferred + len(required) else None
        as_netdsl = self.rewrite_positional(spec, values, kw_values)
        fits = self.fits_pytorch_order(spec, values, kw_values, pos, inputs)
        if not required:  # the first values can only be PyTorch's inferred sizes
            fix = f"write {as_torch}" if as_torch else None
        elif fits is True and as_torch:
            fix = f"write {as_torch}"
        elif fits is False or len(values) != n_inferred + len(required):
            fix = f"write {as_netdsl}" if as_netdsl else None
        elif as_torch and as_netdsl:  # the layer's input is not known here
            first = self.label(values[0][1].pos) or "the first"
            fix = f"e.g. {as_netdsl}; or {as_torch} if {first} is {spec.inferred[0]}"
        else:
            fix = None
        raise SourceError(takes, extra.pos, notes=notes, fix=fix,
                          fix_pos=pos if fix and fix.startswith("write ") else None)

    def block_hyper(self: Checker, d: n.Definition, bound: dict[str, Any],
                    frame: Frame) -> dict[str, Any]:
        """Hyperparameter values; defaults may refer to earlier hyperparameters."""
        scratch = Frame(d, speculative=frame.speculative)
        hyper: dict[str, Any] = {}
        for p in d.hyperparams:
            if p.name in bound:
                value = bound[p.name]
            else:
                assert p.default is not None
                value = self.eval(p.default, scratch)
            hyper[p.name] = value
            scratch.env[p.name] = value
        return hyper

    @staticmethod
    def factory_name(factory: Any) -> str:
        if isinstance(factory, LayerFactory):
            return factory.spec.name
        if isinstance(factory, TorchFactory):
            return f"nn.{factory.cls}"
        return factory.definition.name

    def bind_args(self: Checker, sig: tuple[Param, ...], extra: tuple[str, ...],
                  values: list[tuple[Any, n.Expr]], kw_values: list[tuple[str, Any, n.Keyword]],
                  what: str, pos: Pos,
                  defaults: bool = True) -> tuple[dict[str, Any], AbstractSet[str]]:
        bound: dict[str, Any] = {}
        given: set[str] = set()
        star: Param | None = None
        var_keyword = next((p for p in sig if p.var_keyword), None) if kw_values else None
        i = 0
        for value, expr in values:
            if i < len(sig) and not sig[i].star:
                bound[sig[i].name] = value
                given.add(sig[i].name)
                i += 1
                continue
            if star is None:  # looked up only when a value goes past the plain parameters
                star = next((p for p in sig if p.star and not p.var_keyword), None)
            if star is not None:
                bound.setdefault(star.name, ())
                bound[star.name] = bound[star.name] + (value,)
                given.add(star.name)
            else:
                names = ", ".join(p.name for p in sig) or "no arguments"
                raise SourceError(f"{what} takes at most {len(sig)} positional argument"
                                  f"{'s' if len(sig) != 1 else ''} ({names}), got {len(values)}",
                                  expr.pos)
        known = {p.name for p in sig if not p.var_keyword} | set(extra) if kw_values else set()
        for name, value, kw in kw_values:
            if name not in known and var_keyword is not None:  # rearrange(..., p1=16)
                sizes = bound.setdefault(var_keyword.name, {})
                if name in sizes:
                    raise SourceError(f"{what} got {name!r} twice", kw.pos)
                sizes[name] = value
                given.add(var_keyword.name)
                continue
            if name not in known:
                raise SourceError(f"{what} has no argument {name!r}", kw.pos,
                                  fix=did_you_mean(name, known))
            if name in given:
                raise SourceError(f"{what} got {name!r} twice", kw.pos)
            bound[name] = value
            given.add(name)
        missing = []
        for p in sig:  # fill in what was not given, noting what had to be
            if p.name in bound:
                continue
            if p.star:
                bound[p.name] = {} if p.var_keyword else ()
            elif p.default is REQUIRED:
                missing.append(p.name)
            elif defaults:
                bound[p.name] = p.default
        if missing:
            listed = " and ".join(missing) if len(missing) < 3 else ", ".join(missing)
            shown = ", ".join(p.name if p.default is REQUIRED else f"{p.name}={p.default!r}"
                              for p in sig[:5] if not p.star)
            more = ", ..." if len(sig) > 5 else ""
            raise SourceError(f"{what} needs {listed}", pos,
                              notes=[f"signature: {what}({shown}{more})"])
        for name in extra:
            if name not in bound:
                bound[name] = REQUIRED
        return bound, given or NOTHING_GIVEN

    def check_integer_args(self: Checker, factory: LayerFactory | TorchFactory,
                           values: list[tuple[Any, n.Expr]],
                           kw_values: list[tuple[str, Any, n.Keyword]], label: str,
                           pos: Pos) -> None:
        """A count or size that is not an integer (`conv(16 / 4, 1)`: 4.0) is an error for
        every layer alike; the fix writes each `/` of that argument as `//`."""
        assert factory.spec is not None
        if not any(isinstance(v, (float, tuple)) for v, _ in values) and not any(
                isinstance(v, (float, tuple)) for _, v, _ in kw_values):
            return  # no value that could hold a fraction (what s.first_float looks for)
        sig = factory.spec.signature if isinstance(factory, LayerFactory) else (
            factory.spec.torch_signature)
        plain = [p for p in sig if not p.star]
        star = next((p.name for p in sig if p.star), None)
        named = [(plain[i].name if i < len(plain) else star, v, e)
                 for i, (v, e) in enumerate(values)]
        named += [(name, v, k.value) for name, v, k in kw_values]
        for name, value, expr in named:
            bad = s.first_float(value) if name in s.INTEGER_ARGS else None
            if bad is None:
                continue
            text = self.label(expr.pos)
            fixed = re.sub(r"(?<!/)/(?!/)", "//", text)
            start = expr.pos.column - pos.column
            fix = None
            if fixed != text and label and expr.pos.line == pos.line and (
                    label[start:start + len(text)] == text):
                fix = f"write {label[:start]}{fixed}{label[start + len(text):]}"
            said = f"{text} is {bad!r}" if text and text != repr(bad) else f"it is {bad!r}"
            raise SourceError(f"{name} must be an integer, but {said}"
                              + (" (`/` always gives a number with a fraction; `//` divides "
                                 "whole numbers)" if fix else ""), expr.pos, fix=fix,
                              fix_pos=pos if fix else None)

    def check_flags(self: Checker, spec: LayerSpec, bound: dict[str, Any], given: AbstractSet[str],
                    values: list[tuple[Any, n.Expr]],
                    kw_values: list[tuple[str, Any, n.Keyword]]) -> None:
        """A flag (an argument whose default is true or false) takes true or false:
        `relu(inplace=1.5)` would otherwise be passed on to PyTorch, which reads it as true."""
        if not given or all(bound[name].__class__ is bool for name in _flags(spec)
                            if name in given):
            return  # the common case, decided without building the positions below
        where = {name: k.value.pos for name, _, k in kw_values}
        where.update((p.name, e.pos) for p, (_, e) in zip(spec.signature, values, strict=False))
        for p in spec.signature:
            if isinstance(p.default, bool) and p.name in given and not isinstance(
                    bound[p.name], bool) and p.name in where:
                raise SourceError(f"{p.name} is a flag: it is true or false, not "
                                  f"{describe(bound[p.name])}", where[p.name])

    def keyword_text(self: Checker, k: n.Keyword) -> str:
        """`dim=2` as written (a keyword's own span is its name)."""
        end = k.value.pos
        return self.label(Pos(k.pos.file, k.pos.line, k.pos.column, end.end_line,
                              end.end_column))

    def as_stage(self: Checker, spec: LayerSpec, values: list[tuple[Any, n.Expr]],
                 kw_values: list[tuple[str, Any, n.Keyword]]) -> str | None:
        """`cat((a, b), dim=2)` or `conv(x, 16, 3)` written as a stage, `(a, b) -> cat(dim=2)`
        or `x -> conv(16, 3)`: the leading tensors are its inputs, the rest its arguments
        (the required ones by position, the others by name)."""
        count = next((i for i, (v, _) in enumerate(values) if not _is_tensors(v)), len(values))
        if count == 0 or any(_is_tensors(v) for v, _ in values[count:]):
            return None
        texts = [self.label(e.pos) for _, e in values[:count]]
        layer = self.rewrite_positional(spec, values[count:], kw_values)
        if not all(texts) or layer is None:
            return None
        head = texts[0] if count == 1 else f"({', '.join(texts)})"
        return f"{head} -> {layer}"

    def rewrite_positional(self: Checker, spec: LayerSpec, values: list[tuple[Any, n.Expr]],
                           kw_values: list[tuple[str, Any, n.Keyword]]) -> str | None:
        """`conv(32, 3, 1, 1)` as `conv(32, 3, stride=1, padding=1)`: the required arguments
        by position, the others named in signature order, skipping a parameter the value
        cannot be (0.1 is lstm's dropout, not its bias); the user's keywords kept as written."""
        texts = [self.label(e.pos) for _, e in values] + [self.keyword_text(k)
                                                         for _, _, k in kw_values]
        if not all(texts):
            return None
        written = {name for name, _, _ in kw_values}
        params = [p for p in spec.signature if not p.star and p.name not in written]
        required = [p for p in params if p.default is REQUIRED]
        if len(values) < len(required):
            return None
        parts = texts[:len(required)]
        optional = iter(p for p in params if p.default is not REQUIRED)
        for (value, _), text in zip(values[len(required):], texts[len(required):len(values)],
                                    strict=True):
            param = next((p for p in optional if _could_be(value, p.default)), None)
            if param is None:
                return None
            parts.append(f"{param.name}={text}")
        parts += texts[len(values):]
        return f"{spec.name}({', '.join(parts)})" if parts else spec.name

    def fits_pytorch_order(self: Checker, spec: LayerSpec, values: list[tuple[Any, n.Expr]],
                           kw_values: list[tuple[str, Any, n.Keyword]], pos: Pos,
                           inputs: list[Any] | None) -> bool | None:
        """Whether the first values are the sizes netdsl infers, i.e. the layer accepts its
        input with them (None when the input is not known here)."""
        if inputs is None or not inputs or not all(isinstance(primary(v), Tensor)
                                                   for v in inputs):
            return None
        n_inferred = len(spec.inferred)
        if len(values) < n_inferred:
            return False
        sizes: list[Any] = [(name, value, None)
                            for name, (value, _) in zip(spec.inferred, values, strict=False)]
        try:
            bound, given = self.bind_args(spec.signature, spec.inferred, values[n_inferred:],
                                          [*kw_values, *sizes], spec.name, pos)
            args = {k: v for k, v in bound.items() if v is not REQUIRED}
            spec.rule(s.Call(spec.name, args, [primary(v).tt for v in inputs], given))
        except (SourceError, s.ShapeError, TypeError, ValueError, AttributeError,
                ZeroDivisionError, OverflowError):
            return False
        return True

"""Source calls: `parameter(...)` and the tensors created from compile-time values
(`arange`, `ones`, `zeros`, `full`, `eye`), each a node of the graph with no tensor input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import nodes as n
from .. import shapes as s
from ..dims import Dim, Sym, dim_str, product
from ..errors import SourceError
from ..render import render_call
from ..sources import (
    INIT_KEYWORDS,
    INITS,
    Init,
    arange_dtype,
    arange_length,
    full_dtype,
)
from ..values import POISON, Poison, Tensor, Why, describe
from .diagnostics import did_you_mean
from .scope import Frame, SiteRecord, flat_tensors, is_int

if TYPE_CHECKING:
    from .checker import Checker

Args = list[tuple[Any, n.Expr]]
Keywords = dict[str, tuple[Any, n.Keyword]]

# the keyword arguments each creator takes besides dtype
CREATOR_KEYWORDS = {"arange": {"step"}, "ones": set(), "zeros": set(), "full": set(),
                    "eye": set()}


class Sources:
    """`parameter(1, 1, D)`, `arange(T)`, `ones(n, n)`: tensors with no tensor input."""

    def eval_source(self: Checker, e: n.Call, name: str, frame: Frame) -> Any:
        values: Args = [(self.eval(a, frame), a) for a in e.args]
        keywords: Keywords = {}
        for k in e.kwargs:
            if k.name in keywords:
                raise SourceError(f"{name} got {k.name!r} twice", k.pos)
            keywords[k.name] = (self.eval(k.value, frame), k)
        for value, expr in [*values, *((v, k.value) for v, k in keywords.values())]:
            if isinstance(value, Poison) or (isinstance(value, tuple) and any(
                    isinstance(v, Poison) for v in value)):
                return POISON
            if flat_tensors(value):
                raise SourceError(f"the parentheses of {name} hold sizes and values, never "
                                  f"tensors", expr.pos,
                                  fix="a tensor of the same shape comes from a stage: "
                                      "x -> zeros_like" if name in ("ones", "zeros", "full")
                                  else None)
        if name == "parameter":
            return self.make_parameter(e, values, keywords, frame)
        return self.make_created(e, name, values, keywords, frame)

    # ------------------------------------------------------------ parameter

    def make_parameter(self: Checker, e: n.Call, values: Args, keywords: Keywords,
                       frame: Frame) -> Tensor:
        if not values:
            raise SourceError("parameter needs its sizes: parameter(1, 1, D)", e.pos)
        if frame.loop:
            # one per iteration would need an nn.ParameterList in generated code, which
            # netdsl does not write yet: a block holds one, and a block in a loop is new
            # each iteration
            raise SourceError("a parameter cannot be made inside a `for` loop yet", e.pos,
                              fix="make it in a block, and apply the block in the loop: "
                                  "each iteration's block has its own")
        shape = self.source_sizes("parameter", values, learnable=True)
        init = self.parameter_init(keywords, e)
        attr = self.site_names(frame.definition).get(id(e)) or "param"
        label = self.label(e.pos) or "parameter"
        tt = s.TT(tuple(shape), "float")
        node = self.new_node("parameter", "parameter", frame.prefix + attr, label,
                             "nn.Parameter", e.pos, [], frame)
        node.outputs = [tt]
        node.params = int(product(shape)) if shape else 1  # type: ignore[arg-type]
        node.meta["init"] = init
        for block in node.scope:  # each enclosing block use totals its parameters
            block.meta["params"] += node.params
        frame.record(e, SiteRecord("parameter", None, node))  # type: ignore[arg-type]
        return Tensor(tt, self.source_whys(shape, label, e), node, 0)

    def parameter_init(self: Checker, keywords: Keywords, e: n.Call) -> Init:
        """`init=` and the keyword arguments that go with its kind, checked as torch would."""
        for key, (_, k) in keywords.items():
            if key != "init" and key not in INIT_KEYWORDS:
                raise SourceError(f"parameter has no argument {key!r}", k.pos,
                                  fix=did_you_mean(key, {"init", *INIT_KEYWORDS}))
        value, kw = keywords.get("init", (0, None))
        pos = kw.value.pos if kw is not None else e.pos
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            kind, fill = "fill", value
        elif isinstance(value, str) and value in INITS:
            kind, fill = value, None
        elif isinstance(value, str):
            kinds = ", ".join(f'"{k}"' for k in INITS)
            raise SourceError(f"unknown init {value!r}: parameter starts from a number or "
                              f"one of {kinds}", pos, fix=did_you_mean(value, INITS))
        else:
            raise SourceError(f"init is a number or the name of an initialisation, not "
                              f"{describe(value)}", pos)
        allowed = INITS.get(kind, {})
        args: list[tuple[str, Any]] = []
        for key, (given, k) in keywords.items():
            if key == "init":
                continue
            if key not in allowed:
                owners = [f'init="{name}"' for name, keys in INITS.items() if key in keys]
                raise SourceError(f"{key}= goes with {' or '.join(owners)}, not with "
                                  f"{'init=' + repr(fill) if kind == 'fill' else repr(kind)}",
                                  k.pos)
            if not isinstance(given, (int, float)) or isinstance(given, bool):
                raise SourceError(f"{key} is a number, not {describe(given)}", k.value.pos)
            if key == "std" and (given < 0 or (given == 0 and kind == "trunc_normal")):
                raise SourceError(f"std must be positive, got {given}", k.value.pos)
        for key, default in allowed.items():
            args.append((key, keywords[key][0] if key in keywords else default))
        if kind == "uniform" and dict(args)["a"] > dict(args)["b"]:
            raise SourceError(f"uniform's a must not exceed b (a={dict(args)['a']}, "
                              f"b={dict(args)['b']})", pos)
        return Init(kind, tuple(args), fill)

    # ------------------------------------------------------------ created tensors

    def make_created(self: Checker, e: n.Call, name: str, values: Args, keywords: Keywords,
                     frame: Frame) -> Tensor:
        dtype_given = None
        for key, (value, k) in keywords.items():
            if key == "dtype":
                if not isinstance(value, str) or value not in s.DTYPES:
                    raise SourceError(f"unknown dtype {value!r}", k.value.pos,
                                      fix=did_you_mean(str(value), s.DTYPES)
                                      or 'e.g. dtype="long"')
                dtype_given = value
            elif key not in CREATOR_KEYWORDS[name]:
                raise SourceError(f"{name} has no argument {key!r}", k.pos,
                                  fix=did_you_mean(key, {"dtype", *CREATOR_KEYWORDS[name]}))
        shape, dtype = self.created_shape(e, name, values, keywords)
        tt = s.TT(tuple(shape), dtype_given or dtype)
        label = self.label(e.pos) or name
        written = {"dtype": dtype_given} if dtype_given else {}
        if "step" in keywords:
            written = {"step": keywords["step"][0], **written}
        torch = (render_call, f"torch.{name}", [v for v, _ in values], written)
        node = self.new_node("op", name, None, label, torch, e.pos, [], frame)
        node.outputs = [tt]
        node.meta["created"] = True
        if name == "arange":  # the values it holds, for what indexes with it (embedding)
            bounds = [v for v, _ in values] + ([keywords["step"][0]] if "step" in keywords
                                               else [])
            node.meta["arange"] = tuple(bounds)
        frame.record(e, SiteRecord("create", None, node))  # type: ignore[arg-type]
        return Tensor(tt, self.source_whys(shape, label, e), node, 0)

    def created_shape(self: Checker, e: n.Call, name: str, values: Args,
                      keywords: Keywords) -> tuple[list[Dim], str]:
        if name == "arange":
            if not 1 <= len(values) <= 3:
                raise SourceError("arange takes end, or start and end (and step)", e.pos)
            step_kw = keywords.get("step")
            if step_kw is not None and len(values) == 3:
                raise SourceError("arange got 'step' twice", step_kw[1].pos)
            bounds = [v for v, _ in values]
            for value, expr in values + ([(step_kw[0], step_kw[1].value)] if step_kw else []):
                if not (isinstance(value, (int, float, Sym)) and not isinstance(value, bool)):
                    raise SourceError(f"arange's bounds are numbers, not {describe(value)}",
                                      expr.pos)
            start, end = (0, bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
            step = bounds[2] if len(bounds) == 3 else (step_kw[0] if step_kw else 1)
            try:
                length = arange_length(start, end, step)
            except s.ShapeError as err:
                raise SourceError(err.message, e.pos) from None
            return [length], arange_dtype(start, end, step)
        if name == "eye":
            if not 1 <= len(values) <= 2:
                raise SourceError("eye takes n, and optionally m: eye(n) or eye(n, m)", e.pos)
            sizes = self.source_sizes(name, values)
            return [sizes[0], sizes[-1]], "float"
        if name == "full":
            if len(values) != 2:
                raise SourceError("full takes a size and a value: full((n, n), 0.5)", e.pos)
            (size, size_expr), (fill, fill_expr) = values
            if not isinstance(size, tuple):
                raise SourceError(f"full's size is a tuple, as torch.full's: write "
                                  f"({self.label(size_expr.pos)},)", size_expr.pos)
            if not isinstance(fill, (int, float)):
                raise SourceError(f"full's value is a number or a boolean, not "
                                  f"{describe(fill)}", fill_expr.pos)
            return self.source_sizes(name, [(size, size_expr)]), full_dtype(fill)
        if not values:
            raise SourceError(f"{name} needs its sizes: {name}(n, n)", e.pos)
        return self.source_sizes(name, values), "float"

    # ------------------------------------------------------------ shared

    def source_sizes(self: Checker, name: str, values: Args,
                     learnable: bool = False) -> list[Dim]:
        """The sizes, written one by one or as one tuple (`ones(n, n)`, `ones((n, n))`)."""
        items: list[tuple[Any, n.Expr]] = list(values)
        if len(values) == 1 and isinstance(values[0][0], tuple):
            items = [(v, values[0][1]) for v in values[0][0]]
        shape: list[Dim] = []
        for value, expr in items:
            if isinstance(value, Sym) and learnable:
                raise SourceError(
                    f"a parameter's sizes are fixed when the network is built, but "
                    f"{dim_str(value)} is a symbolic dimension, known only when an input "
                    f"arrives", expr.pos,
                    notes=["a size with a value comes from the input's shape ([B, 196, 768]) "
                           "or from a hyperparameter"])
            if isinstance(value, float):
                raise SourceError(f"a size is a whole number, but {self.label(expr.pos)} is "
                                  f"{value!r}", expr.pos,
                                  fix="divide sizes with //" if "/" in self.label(expr.pos)
                                  else None)
            if not (is_int(value) or isinstance(value, Sym)):
                raise SourceError(f"{name}'s sizes are integers, not {describe(value)}",
                                  expr.pos)
            if is_int(value) and value < 0:
                raise SourceError(f"a size cannot be negative, got {value}", expr.pos)
            shape.append(value)
        return shape

    def source_whys(self: Checker, shape: list[Dim], label: str,
                    e: n.Call) -> tuple[Why | None, ...]:
        return tuple(Why(d, f"{label} at {e.pos.short}", kind="arg") for d in shape)

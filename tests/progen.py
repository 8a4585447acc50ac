"""A random program generator for differential testing (after Csmith and YARPGen).

`program(seed)` writes one netdsl source over the language's structure, not single layers:
blocks and networks with hyperparameters (ints, bools, strings), `if`/`elif`/`else` (as the
last statement, consecutive, nested, without `else`, on loop variables), `for` loops with
literal and hyperparameter counts whose bodies change widths or bind layers, `* n`
repetition of layers and blocks, blocks calling blocks, bound layers, multi-output layers,
tuples and `cat`, residual sums, created tensors and `parameter`s, broadcasting, reshapes with
`-1`, slices, attention and `rearrange`, and symbolic dimensions.

The generator keeps an approximate shape for each name (the sizes at the defaults), so that
most programs check; those `check` rejects are skipped by the caller (and counted). It makes
no promise of validity: `check` is the judge of that, torch of the rest (tests/differential.py).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Shape:
    """What the generator knows of a tensor: its rank's kind and sizes at the defaults."""

    kind: str  # "vec" [B, F], "seq" [B, T, F], "img" [B, C, H, W]
    width: int  # F or C
    spatial: int = 0  # H = W for images
    length: int = 0  # T for sequences when known (0: symbolic)

    def copy(self) -> Shape:
        return Shape(self.kind, self.width, self.spatial, self.length)


@dataclass
class Hyper:
    name: str
    value: object  # the default


@dataclass
class Scope:
    """A definition being written: its hyperparameters, bound tensors and layers."""

    hypers: list[Hyper]
    tensors: dict[str, Shape] = field(default_factory=dict)
    layers: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (kind, text)
    loop_vars: list[tuple[str, int]] = field(default_factory=list)
    depth: int = 0

    def ints(self) -> list[Hyper]:
        return [h for h in self.hypers if isinstance(h.value, int)
                and not isinstance(h.value, bool)]

    def bools(self) -> list[Hyper]:
        return [h for h in self.hypers if isinstance(h.value, bool)]

    def strings(self) -> list[Hyper]:
        return [h for h in self.hypers if isinstance(h.value, str)]


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lines: list[str] = []
        self.blocks: list[tuple[str, list[Hyper], str]] = []  # name, hypers, input kind
        self.counter = 0

    # ------------------------------------------------------------ helpers

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def emit(self, indent: int, text: str) -> None:
        self.lines.append("    " * indent + text)

    def size_expr(self, scope: Scope, default: int) -> tuple[str, int]:
        """A width: a literal, a hyperparameter, or an expression of one (text, value)."""
        ints = [h for h in scope.ints() if 1 <= int(h.value) <= 64]  # type: ignore[call-overload]
        r = self.rng.random()
        if ints and r < 0.35:
            h = self.rng.choice(ints)
            return h.name, int(h.value)  # type: ignore[call-overload]
        if ints and r < 0.5:
            h = self.rng.choice(ints)
            factor = self.rng.choice([2, 4])
            return f"{h.name} * {factor}", int(h.value) * factor  # type: ignore[call-overload]
        if scope.loop_vars and r < 0.6:
            var, _ = scope.loop_vars[-1]
            return f"{default} + {var}", default  # approximate: the first iteration's
        return str(default), default

    def condition(self, scope: Scope) -> str:
        options = []
        for h in scope.bools():
            options += [h.name, f"not {h.name}"]
        for h in scope.ints():
            v = int(h.value)  # type: ignore[call-overload]
            options += [f"{h.name} > 1", f"{h.name} == {v}", f"{h.name} != {v + 1}",
                        f"{h.name} % 2 == 0"]
        for h in scope.strings():
            options += [f'{h.name} == "{h.value}"', f'{h.name} != "other"']
        for var, count in scope.loop_vars:
            options += [f"{var} == 1", f"{var} % 2 == 0", f"{var} < {max(1, count - 1)}"]
        if not options:
            options = ["true", "false", "1 > 2"]
        return self.rng.choice(options)

    # ------------------------------------------------------------ stages

    def stage(self, scope: Scope, shape: Shape) -> tuple[str, Shape]:
        """One layer that accepts `shape`: its text and the shape after it."""
        out = shape.copy()
        r = self.rng.random()
        if shape.kind == "img":
            if r < 0.3:
                w, wv = self.size_expr(scope, self.rng.choice([4, 6, 8]))
                k = self.rng.choice(["1", "3", "k" if any(h.name == "k" for h in scope.ints())
                                     else "3"])
                pad = f", padding={k} // 2" if k != "1" else ""
                out.width = wv
                if k == "1" or pad:
                    return f"conv({w}, {k}{pad})", out
            if r < 0.4:
                return self.rng.choice(["batchnorm", "relu", "gelu", "sigmoid"]), out
            if r < 0.5 and shape.spatial >= 4:
                out.spatial = shape.spatial // 2
                return self.rng.choice(["maxpool(2)", "avgpool(2)"]), out
            if r < 0.55 and shape.spatial >= 2:
                out.spatial = (shape.spatial + 1) // 2
                return "maxpool(2, ceil_mode=true)", out
            if r < 0.6:
                out.spatial = 1
                return "adaptive_avgpool(1)", out
            if r < 0.7:
                return f"groupnorm({self.rng.choice([1, 2]) if shape.width % 2 == 0 else 1})", out
            if r < 0.8:
                return f"dropout({self.rng.choice(['0.1', '0.0'])})", out
            return "relu", out
        # vectors and sequences: the last dimension is the width
        if r < 0.35:
            w, wv = self.size_expr(scope, self.rng.choice([4, 6, 8, 12]))
            out.width = wv
            bias = self.rng.choice(["", "", ", bias=false"])
            return f"linear({w}{bias})", out
        if r < 0.5:
            return self.rng.choice(["relu", "tanh", "gelu", "silu", "layernorm"]), out
        if r < 0.55:
            return "softmax(dim=-1)", out
        if r < 0.6 and shape.kind == "vec":
            return "batchnorm", out
        if r < 0.65 and shape.kind == "seq" and shape.width % 2 == 0:
            return ("multihead_attention(2, batch_first=true)", out) if self.chance(0.5) else \
                ("transformer_encoder_layer(2, dim_feedforward=8, batch_first=true)", out)
        if r < 0.7:
            return "dropout(0.1)", out
        return self.rng.choice(["relu", "tanh"]), out

    def pipeline(self, scope: Scope, source: str, shape: Shape, length: int) -> tuple[str, Shape]:
        parts = [source]
        for _ in range(length):
            text, shape = self.stage(scope, shape)
            if self.chance(0.1):
                count, _ = self.count_expr(scope)
                text = f"{text} * {count}" if shape_keeps(text) else text
            parts.append(text)
        return " -> ".join(parts), shape

    def count_expr(self, scope: Scope) -> tuple[str, int]:
        ints = [h for h in scope.ints() if 1 <= int(h.value) <= 3]  # type: ignore[call-overload]
        if ints and self.chance(0.5):
            h = self.rng.choice(ints)
            return h.name, int(h.value)  # type: ignore[call-overload]
        n = self.rng.choice([1, 2, 3])
        return str(n), n

    # ------------------------------------------------------------ statements

    def statements(self, scope: Scope, indent: int, var: str, count: int) -> Shape:
        """Statements that transform `var`; returns its shape after them."""
        for _ in range(count):
            shape = scope.tensors[var]
            r = self.rng.random()
            if r < 0.35 or scope.depth > 2:
                text, shape = self.pipeline(scope, var, shape, self.rng.randint(1, 3))
                self.emit(indent, f"{var} = {text}")
            elif r < 0.5:
                self.if_statement(scope, indent, var)
            elif r < 0.6 and not scope.loop_vars:
                self.for_statement(scope, indent, var)
            elif r < 0.7:
                self.residual(scope, indent, var)
            elif r < 0.78:
                self.block_use(scope, indent, var)
            elif r < 0.84:
                self.bound_layer(scope, indent, var)
            elif r < 0.9:
                self.tuple_statement(scope, indent, var)
            else:
                self.tensor_statement(scope, indent, var)
            shape = scope.tensors[var]
        return scope.tensors[var]

    def branch_body(self, scope: Scope, indent: int, var: str, before: Shape) -> Shape:
        scope.tensors[var] = before.copy()
        if self.chance(0.15):
            self.emit(indent, f"{var} = {var}")
            return before.copy()
        scope.depth += 1
        after = self.statements(scope, indent, var, self.rng.randint(1, 2))
        scope.depth -= 1
        return after

    def if_statement(self, scope: Scope, indent: int, var: str) -> None:
        before = scope.tensors[var].copy()
        self.emit(indent, f"if {self.condition(scope)}:")
        first = self.branch_body(scope, indent + 1, var, before)
        shapes = [first]
        for _ in range(self.rng.choice([0, 0, 1])):
            self.emit(indent, f"elif {self.condition(scope)}:")
            shapes.append(self.branch_body(scope, indent + 1, var, before))
        if self.chance(0.7):
            self.emit(indent, "else:")
            shapes.append(self.branch_body(scope, indent + 1, var, before))
        else:
            shapes.append(before)
        # later stages adapt to any width; the rank must agree, else check may refuse
        scope.tensors[var] = self.rng.choice(shapes)

    def for_statement(self, scope: Scope, indent: int, var: str) -> None:
        loop = self.fresh("i")
        count, value = self.count_expr(scope)
        self.emit(indent, f"for {loop} in range({count}):")
        scope.loop_vars.append((loop, value))
        scope.depth += 1
        if self.chance(0.3):
            self.emit(indent + 1, f"if {self.condition(scope)}:")
            text, shape = self.pipeline(scope, var, scope.tensors[var], 1)
            self.emit(indent + 2, f"{var} = {text}")
            scope.tensors[var] = shape
        elif self.chance(0.2):
            layer = self.fresh("layer")
            text, shape = self.stage(scope, scope.tensors[var])
            self.emit(indent + 1, f"{layer} = {text if '(' in text else text + '()'}")
            self.emit(indent + 1, f"{var} = {var} -> {layer}")
            scope.tensors[var] = shape
        else:
            self.statements(scope, indent + 1, var, 1)
        scope.depth -= 1
        scope.loop_vars.pop()

    def residual(self, scope: Scope, indent: int, var: str) -> None:
        shape = scope.tensors[var]
        other = self.fresh("y")
        stage = self.rng.choice(["relu", "layernorm" if shape.kind != "img" else "batchnorm",
                                 "tanh"])
        self.emit(indent, f"{other} = {var} -> {stage}")
        scope.tensors[other] = shape.copy()
        op = self.rng.choice(["+", "*", "-"])
        self.emit(indent, f"{var} = {var} {op} {other}")

    def bound_layer(self, scope: Scope, indent: int, var: str) -> None:
        shape = scope.tensors[var]
        name = self.fresh("shared")
        stage = "relu()" if shape.kind == "img" else f"linear({shape.width})"
        self.emit(indent, f"{name} = {stage}")
        if self.chance(0.5):
            self.emit(indent, f"{var} = {var} -> {name} -> {name}")
        else:
            count, _ = self.count_expr(scope)
            self.emit(indent, f"{var} = {var} -> {name} * {count}")

    def tuple_statement(self, scope: Scope, indent: int, var: str) -> None:
        shape = scope.tensors[var]
        other = self.fresh("z")
        text, other_shape = self.pipeline(scope, var, shape, 1)
        self.emit(indent, f"{other} = {text}")
        scope.tensors[other] = other_shape
        if other_shape.kind == shape.kind and other_shape.spatial == shape.spatial:
            dim = 1 if shape.kind == "img" else -1
            self.emit(indent, f"{var} = ({var}, {other}) -> cat(dim={dim})")
            shape.width = shape.width + other_shape.width
        elif self.chance(0.5):
            pair = self.fresh("pair")
            self.emit(indent, f"{pair} = ({var}, {other})")
            self.emit(indent, f"{var} = {pair}[0]")

    def tensor_statement(self, scope: Scope, indent: int, var: str) -> None:
        shape = scope.tensors[var]
        r = self.rng.random()
        if shape.kind == "img" and r < 0.3:
            g = self.fresh("g")
            self.emit(indent, f"{g} = parameter({shape.width}, 1, 1)")
            self.emit(indent, f"{var} = {var} * {g}")
        elif shape.kind == "img" and r < 0.6:
            self.emit(indent, f"{var} = {var} -> flatten(start_dim=2) -> reshape(B, -1, "
                              f"{shape.spatial}, {shape.spatial})")
        elif shape.kind == "img":
            self.emit(indent, f"{var} = {var} -> flatten")
            scope.tensors[var] = Shape("vec", shape.width * shape.spatial * shape.spatial)
        elif r < 0.3 and shape.width >= 2:
            self.emit(indent, f"{var} = {var}[..., ::2]")
            shape.width = (shape.width + 1) // 2
        elif r < 0.5:
            g = self.fresh("g")
            self.emit(indent, f"{g} = parameter({shape.width})")
            self.emit(indent, f"{var} = {var} + {g}")
        elif r < 0.7 and shape.kind == "seq":
            self.emit(indent, f"{var} = {var} -> mean(dim=1)")
            scope.tensors[var] = Shape("vec", shape.width)
        elif r < 0.85 and shape.kind == "vec":
            self.emit(indent, f"{var} = {var} -> reshape(B, -1)")
        elif r < 0.9 and shape.kind == "seq":
            w, wv = self.size_expr(scope, self.rng.choice([4, 6]))
            if self.chance(0.5):
                out, h, c = self.fresh("out"), self.fresh("h"), self.fresh("c")
                self.emit(indent, f"{out}, ({h}, {c}) = {var} -> lstm({w}, batch_first=true)")
                self.emit(indent, f"{var} = {out}")
            else:
                self.emit(indent, f"{var} = {var} -> gru({w}, batch_first=true)")
            shape.width = wv
        elif r < 0.95:
            made = self.rng.choice([f"arange({shape.width})", f"ones({shape.width})",
                                    f"zeros(1, {shape.width})"])
            self.emit(indent, f"{var} = {var} + ({made} -> unsqueeze(0))" if made.startswith(
                "arange") else f"{var} = {var} + {made}")
        elif shape.kind == "seq" and shape.width % 2 == 0:
            self.emit(indent, f'{var} = {var} -> rearrange("b t (n d) -> b n t d", n=2) -> '
                              f'rearrange("b n t d -> b t (n d)")')
        else:
            self.emit(indent, f"{var} = {var} -> relu")

    def block_use(self, scope: Scope, indent: int, var: str) -> None:
        shape = scope.tensors[var]
        fitting = [b for b in self.blocks if b[2] == shape.kind]
        if not fitting:
            text, shape = self.pipeline(scope, var, shape, 1)
            self.emit(indent, f"{var} = {text}")
            scope.tensors[var] = shape
            return
        name, hypers, _ = self.rng.choice(fitting)
        args = []
        for h in hypers:
            if self.chance(0.4):
                continue  # its default
            if isinstance(h.value, bool):
                args.append(f"{h.name}={self.rng.choice(['true', 'false'])}")
            elif isinstance(h.value, int):
                text, _ = self.size_expr(scope, self.rng.choice([2, 4, 8]))
                args.append(f"{h.name}={text}")
            elif isinstance(h.value, str):
                args.append(f'{h.name}="{self.rng.choice(["a", "b"])}"')
        call = f"{name}({', '.join(args)})" if args else name
        if self.chance(0.2):
            count, _ = self.count_expr(scope)
            call = f"{call} * {count}"
        self.emit(indent, f"{var} = {var} -> {call}")
        # the block's output width is unknown here: keep the kind, guess the width
        scope.tensors[var] = shape.copy()

    # ------------------------------------------------------------ definitions

    def hypers(self, count: int) -> list[Hyper]:
        out: list[Hyper] = []
        names = self.rng.sample(["w", "k", "n", "d", "flag", "mode", "r"], count)
        for name in names:
            if name == "flag":
                out.append(Hyper(name, self.rng.choice([True, False])))
            elif name == "mode":
                out.append(Hyper(name, self.rng.choice(["a", "b"])))
            elif name == "k":
                out.append(Hyper(name, self.rng.choice([1, 3])))
            elif name == "n":
                out.append(Hyper(name, self.rng.choice([1, 2, 3])))
            else:
                out.append(Hyper(name, self.rng.choice([2, 4, 8])))
        return out

    def header(self, hypers: list[Hyper], with_defaults: bool) -> str:
        parts = []
        for h in hypers:
            if not with_defaults and not isinstance(h.value, bool) and self.chance(0.5):
                parts.append(h.name)
                continue
            value = h.value
            text = ("true" if value else "false") if isinstance(value, bool) else \
                (f'"{value}"' if isinstance(value, str) else str(value))
            parts.append(f"{h.name}={text}")
        return f"({', '.join(parts)})" if parts else ""

    def input_decl(self, kind: str, symbolic: bool) -> tuple[str, Shape]:
        if kind == "img":
            c, s = self.rng.choice([1, 3, 4]), self.rng.choice([4, 8])
            return f"[B, {c}, {s}, {s}]", Shape("img", c, s)
        if kind == "seq":
            f = self.rng.choice([4, 8])
            t = "T" if symbolic else str(self.rng.choice([3, 5]))
            return f"[B, {t}, {f}]", Shape("seq", f, 0, 0 if symbolic else int(t))
        f = self.rng.choice([4, 8, 6])
        return f"[B, {f}]", Shape("vec", f)

    def block(self) -> None:
        name = f"Blk{len(self.blocks) + 1}"
        kind = self.rng.choice(["img", "vec", "seq"])
        hypers = self.hypers(self.rng.randint(0, 2))
        annotated = self.chance(0.5)
        _, shape = self.input_decl(kind, True)
        if annotated:
            dims = {"img": "[B, C, H, W]", "seq": "[B, T, F]", "vec": "[B, F]"}[kind]
            header = f"block {name}{self.header(hypers, False)}(x: {dims}):"
        else:
            header = f"block {name}{self.header(hypers, False)}(x):"
        scope = Scope(hypers)
        # the block's hyperparameters without defaults still have values at its uses
        scope.tensors["x"] = shape
        self.emit(0, header)
        self.body(scope, "x")
        self.emit(0, "")
        self.blocks.append((name, hypers, kind))

    def body(self, scope: Scope, var: str) -> None:
        self.statements(scope, 1, var, self.rng.randint(1, 4))
        r = self.rng.random()
        if r < 0.15:
            cond = self.condition(scope)
            shape = scope.tensors[var]
            a, _ = self.pipeline(scope, var, shape, 1)
            b, _ = self.pipeline(scope, var, shape, 1)
            keyword = "return " if self.chance(0.5) else ""
            self.emit(1, f"if {cond}:")
            self.emit(2, keyword + a)
            self.emit(1, "else:")
            self.emit(2, keyword + b)
        elif r < 0.3:
            text, _ = self.pipeline(scope, var, scope.tensors[var], 1)
            self.emit(1, f"return {text}")
        elif r < 0.4 and len(scope.tensors) > 1:
            others = [t for t in scope.tensors if t != var]
            self.emit(1, f"return {var}, {self.rng.choice(others)}")
        else:
            self.emit(1, var)

    def network(self, index: int) -> None:
        name = f"Net{index}"
        kind = self.rng.choice(["img", "vec", "seq"])
        hypers = self.hypers(self.rng.randint(0, 3))
        decl, shape = self.input_decl(kind, self.chance(0.5))
        dtype = self.rng.choice(["", "", "", "half"]) if kind == "vec" else ""
        var = "xuv"[(index - 1) % 3]  # inputs of two networks apart: --input names them
        self.emit(0, f"network {name}{self.header(hypers, True)}({var}: {dtype}{decl}):")
        scope = Scope(hypers)
        scope.tensors[var] = shape
        self.body(scope, var)
        self.emit(0, "")

    def program(self) -> str:
        for _ in range(self.rng.choice([0, 1, 1, 2, 3])):
            self.block()
        for index in range(self.rng.choice([1, 1, 2])):
            self.network(index + 1)
        return "\n".join(self.lines) + "\n"


def shape_keeps(stage: str) -> bool:
    """A stage that may repeat (`* n`): its output has its input's shape at any width."""
    return stage.split("(")[0] in ("relu", "tanh", "gelu", "silu", "layernorm", "batchnorm",
                                   "dropout", "sigmoid") or stage.startswith("linear(")


def program(seed: int) -> str:
    return Generator(seed).program()

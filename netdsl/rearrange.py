"""einops' `rearrange`: its pattern language, checked statically, and planned as tensor methods.

    x -> rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=16, p2=16)

A tiny language in one module, as einops keeps it in parsing.py. The rules are einops' own:
axis names are Python identifiers that neither start nor end with `_`; `(a b)` composes axes
(one level deep); `1` and `()` are a unit axis; `...` stands for the dimensions no name covers,
once per side and never inside parentheses on the left; every axis appears once on each side;
the sizes given by keyword must name axes of the pattern; a composition on the left may leave
out the size of one axis, which is inferred, and with every size known their product must be
the dimension. The parser raises PatternError with a short message; `rule`, the entry point the
checker calls, turns it into a ShapeError (the checker adds file:line:col and the input's shape).

Generated code never imports einops. `plan` writes the rearrangement as plain tensor methods:
`unflatten` for each composition on the left (the size of the inferred axis written -1, the
others as the keyword argument that gives them, never as a number the check computed),
`squeeze` for unit axes, one `permute` (left out when it is the identity), `flatten` for each
composition on the right and `unsqueeze` for its unit axes. With an ellipsis the dimensions
after it are counted from the end and `movedim` moves the named axes around it, so the same
methods serve every rank. No size of the tensor is read and there is no control flow, so
torch.fx, TorchScript, torch.export and torch.compile(fullgraph) take it, and a size given by
a hyperparameter stays that hyperparameter. No torch import here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Union

from . import strides
from .dims import Dim, Sym, dim_str, exact_div, product
from .shapes import TT, Applied, Call, ShapeError

ELLIPSIS = "..."
GROUPED = "(...)"  # an ellipsis inside parentheses: its dimensions merged into one
Group = tuple[str, ...]  # the axes of one dimension, left to right; () is a unit axis


class PatternError(Exception):
    """What is wrong with a pattern, in a few words; `axis`: the input dimension it is
    about, whose derivation the checker then prints."""

    def __init__(self, message: str, axis: int | None = None) -> None:
        super().__init__(message)
        self.axis = axis


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a pattern: its dimensions in order, each a group of axis names; a bare
    ellipsis is the group (ELLIPSIS,), one inside parentheses the name GROUPED in its group."""

    groups: tuple[Group, ...]
    names: frozenset[str]  # the named axes (ELLIPSIS included when present)

    @property
    def has_ellipsis(self) -> bool:
        return ELLIPSIS in self.names


def _axis_name(token: str) -> None:
    if not token.isidentifier():
        raise PatternError(f"{token!r} is not an axis name (names are identifiers such as h "
                           f"or p1; the only number is 1)")
    if token.startswith("_") or token.endswith("_"):
        raise PatternError(f"axis names may not start or end with '_': {token!r}")


def parse_side(text: str) -> Side:
    if "." in text:
        if text.count(".") != 3 or ELLIPSIS not in text:
            raise PatternError("dots may only make one '...' per side")
    groups: list[Group] = []
    names: set[str] = set()
    group: list[str] | None = None  # inside parentheses

    def add(token: str) -> None:
        if token == "1" or (token.isdecimal() and int(token) == 1):
            if group is None:
                groups.append(())  # a unit axis; inside parentheses a 1 changes nothing
            return
        if token.isdecimal():
            raise PatternError(f"rearrange takes no numbered axis but 1, got {token}")
        if token != ELLIPSIS:
            _axis_name(token)
        if token in names:
            raise PatternError(f"{token} appears twice")
        names.add(token)
        if group is None:
            groups.append((token,))
        else:
            group.append(GROUPED if token == ELLIPSIS else token)

    token = ""
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith(ELLIPSIS, i):
            if token:
                raise PatternError(f"'...' must stand apart from {token!r}")
            add(ELLIPSIS)
            i += len(ELLIPSIS)
            if i < len(text) and (text[i].isalnum() or text[i] == "_"):
                raise PatternError("'...' must stand apart from the name after it")
            continue
        if char in "() ":
            if token:
                add(token)
                token = ""
            if char == "(":
                if group is not None:
                    raise PatternError("parentheses do not nest: a composition is one level")
                group = []
            elif char == ")":
                if group is None:
                    raise PatternError("a ')' closes no '('")
                groups.append(tuple(group))
                group = None
        elif char.isalnum() or char == "_":
            token += char
        else:
            raise PatternError(f"unexpected character {char!r}")
        i += 1
    if group is not None:
        raise PatternError("a '(' is not closed")
    if token:
        add(token)
    return Side(tuple(groups), frozenset(names))


@dataclass(frozen=True, slots=True)
class Pattern:
    left: Side
    right: Side


@functools.lru_cache(maxsize=256)
def parse(pattern: str) -> Pattern:
    """Both sides of a pattern, checked against each other as einops checks them."""
    if pattern.count("->") != 1:
        raise PatternError("a pattern has one '->' between the input's axes and the output's")
    texts = pattern.split("->")
    sides = []
    for text, where in zip(texts, ("left", "right"), strict=True):
        try:
            sides.append(parse_side(text))
        except PatternError as err:
            raise PatternError(f"on the {where}: {err}") from None
    left, right = sides
    if right.has_ellipsis and not left.has_ellipsis:
        raise PatternError("'...' on the right needs a '...' on the left")
    if any(GROUPED in g for g in left.groups):
        raise PatternError("'...' may not be inside parentheses on the left")
    only_left = sorted(left.names - right.names)
    only_right = sorted(right.names - left.names)
    if only_left or only_right:
        parts = []
        if only_left:
            parts.append(f"{', '.join(only_left)} only on the left")
        if only_right:
            parts.append(f"{', '.join(only_right)} only on the right")
        raise PatternError(f"every axis must appear on both sides: {'; '.join(parts)}")
    return Pattern(left, right)


def expand(pattern: Pattern, rank: int) -> tuple[list[Group], list[Group]]:
    """Both sides with the ellipsis replaced by one axis per dimension it covers (named
    '...0', '...1', which no axis name can be); the left has one group per dimension."""
    left = pattern.left.groups
    named = len(left) - 1 if pattern.left.has_ellipsis else len(left)
    if rank < named or (rank != named and not pattern.left.has_ellipsis):
        at_least = "at least " if pattern.left.has_ellipsis else ""
        raise PatternError(f"the left side has {at_least}{named} dimension"
                           f"{'s' if named != 1 else ''}, but the input has {rank}")
    covered = tuple(f"{ELLIPSIS}{i}" for i in range(rank - named))

    def replace(groups: tuple[Group, ...]) -> list[Group]:
        out: list[Group] = []
        for g in groups:
            if g == (ELLIPSIS,):
                out.extend((axis,) for axis in covered)
            else:
                out.append(tuple(a for name in g for a in (covered if name == GROUPED
                                                            else (name,))))
        return out

    return replace(left), replace(pattern.right.groups)


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class Size:
    """A size in the plan: the keyword argument `axis=` as the source wrote it."""

    axis: str


Arg = Union[int, Size, tuple[Union[int, Size], ...]]


@dataclass(frozen=True, slots=True)
class Step:
    """One tensor method call: `x.unflatten(3, (-1, p2))` is Step('unflatten', (3, (-1,
    Size('p2'))), ('w', 'p2')); `axes` names the dimensions an unflatten makes (for the
    shape rule's layout walk; not written)."""

    method: str
    args: tuple[Arg, ...]
    axes: tuple[str, ...] = ()


def _split_at(groups: tuple[Group, ...], ellipsis: int | None) -> tuple[list[int], list[int]]:
    """The indices of the groups before the ellipsis group and after it (all before when
    there is none)."""
    if ellipsis is None:
        return list(range(len(groups))), []
    return list(range(ellipsis)), list(range(ellipsis + 1, len(groups)))


def plan(pattern: Pattern, given: frozenset[str] | set[str], ellipsis_dims: int) -> list[Step]:
    """The tensor methods that rearrange a tensor as the pattern says, the same for every
    rank when `...` covers at least one dimension: dimensions before the ellipsis are
    counted from the start, those after it from the end (negative), and axes move around it
    with `movedim`. `ellipsis_dims`: how many dimensions the ellipsis covers in this call."""
    left, right = pattern.left.groups, pattern.right.groups
    ell_left = left.index((ELLIPSIS,)) if pattern.left.has_ellipsis else None
    before, after = _split_at(left, ell_left)
    steps: list[Step] = []

    def split(i: int, dim: int) -> None:
        g = left[i]
        if len(g) > 1:
            unknown = [a for a in g if a not in given]
            sizes = tuple(-1 if unknown and a == unknown[0] else Size(a) for a in g)
            steps.append(Step("unflatten", (dim, sizes), g))

    for i in reversed(before):  # the last first: the earlier ones keep their index
        split(i, i)
    for i in after:  # the first first: the later ones keep their index from the end
        split(i, i - len(left))
    width = [max(len(g), 1) for g in left]
    units = [sum(width[:i]) for i in before if not left[i]]
    units += [-sum(width[i:]) for i in after if not left[i]]
    if units:
        steps.append(Step("squeeze", (units[0],) if len(units) == 1 else (tuple(units),)))
    # the named axes, those before the ellipsis counted from the start, the others from the end
    head = [a for i in before for a in left[i]]
    tail = [a for i in after for a in left[i]]
    position = {a: k for k, a in enumerate(head)}
    position.update({a: k - len(tail) for k, a in enumerate(tail)})
    ell_right = next((j for j, g in enumerate(right) if ELLIPSIS in g or GROUPED in g), None)
    first, last = _split_at(right, ell_right)
    wanted_head = [a for j in first for a in right[j]]
    wanted_tail = [a for j in last for a in right[j]]
    if ell_right is not None and GROUPED in right[ell_right]:
        g = right[ell_right]
        wanted_head += list(g[:g.index(GROUPED)])
        wanted_tail = list(g[g.index(GROUPED) + 1:]) + wanted_tail
    if ell_left is None:
        axes = [position[a] for a in wanted_head]
        if axes != list(range(len(axes))):
            steps.append(Step("permute", tuple(axes)))
    elif (wanted_head, wanted_tail) != (head, tail):
        source = tuple(position[a] for a in wanted_head + wanted_tail)
        target = tuple(range(len(wanted_head))) + tuple(range(-len(wanted_tail), 0))
        steps.append(Step("movedim", (source, target)))
    # merge the compositions and add the unit axes: the ellipsis' group first, then those
    # before it (the last first), then those after it (the first first)
    named = [len([a for a in g if a not in (ELLIPSIS, GROUPED)]) for g in right]
    if ell_right is not None and GROUPED in right[ell_right]:
        start, end = sum(named[:ell_right]), -sum(named[ell_right + 1:]) - 1
        if ellipsis_dims == 0 and named[ell_right] == 0:
            steps.append(Step("unsqueeze", (start,)))  # `(...)` of no dimension is a 1
        steps.append(Step("flatten", (start, end)))
    for j in reversed(first):
        at = sum(named[:j])
        if named[j] > 1:
            steps.append(Step("flatten", (at, at + named[j] - 1)))
        elif not right[j]:
            steps.append(Step("unsqueeze", (at,)))
    for j in last:
        end = -sum(named[j + 1:]) - 1
        if named[j] > 1:
            steps.append(Step("flatten", (end - named[j] + 1, end)))
        elif not right[j]:
            steps.append(Step("unsqueeze", (end,)))
    return steps


# ---------------------------------------------------------------- the shape rule


def _positive(name: str, value: Any) -> Dim:
    if isinstance(value, Sym):
        return value
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PatternError(f"{name}={value!r}: an axis size must be a positive integer")
    return value


def _group_text(g: Group) -> str:
    shown = [a if not a.startswith(ELLIPSIS) else "..." for a in g]
    return "(" + " ".join(dict.fromkeys(shown)) + ")"


def axis_sizes(left: list[Group], shape: tuple[Dim, ...],
               lengths: dict[str, Dim]) -> dict[str, Dim]:
    """Every axis's size, from the input's dimensions and the sizes given."""
    sizes: dict[str, Dim] = {}
    for i, (g, d) in enumerate(zip(left, shape, strict=True)):
        known = [a for a in g if a in lengths]
        unknown = [a for a in g if a not in lengths]
        where = f"dimension {i} ({dim_str(d)})"
        if len(unknown) > 1:
            raise PatternError(f"{where} cannot be split into {_group_text(g)}: give the size "
                               f"of all but one of {', '.join(unknown)}", i)
        if len(g) == 1 and unknown:
            sizes[g[0]] = d  # the very dimension, so that its provenance carries on
            continue
        known_size = product([lengths[a] for a in known])
        factors = " x ".join(f"{a}={dim_str(lengths[a])}" for a in known) or "1"
        if unknown:
            rest = exact_div(d, known_size)
            if rest is None or (isinstance(rest, int) and rest < 1):
                raise PatternError(f"{where} cannot be split into {_group_text(g)}: "
                                   f"{dim_str(d)} is not a multiple of {factors}", i)
            sizes[unknown[0]] = rest
        elif known_size != d:
            if not g:
                said = "the pattern has 1 there"
            elif len(g) == 1:
                said = factors
            else:
                said = f"{_group_text(g)} is {factors} = {dim_str(known_size)}"
            raise PatternError(f"dimension {i} is {dim_str(d)}, but {said}", i)
        for a in known:
            sizes[a] = lengths[a]
    return sizes


def _movedim_order(rank: int, source: tuple[int, ...], target: tuple[int, ...]) -> list[int]:
    """The permutation `movedim(source, target)` makes: result axis k is input axis order[k]."""
    src = [a % rank for a in source]
    dst = [a % rank for a in target]
    order: list[int | None] = [None] * rank
    for a, b in zip(src, dst, strict=True):
        order[b] = a
    rest = iter(a for a in range(rank) if a not in src)
    return [a if a is not None else next(rest) for a in order]


def _layout(shape: tuple[Dim, ...], layout: Any, steps: list[Step],
            sizes: dict[str, Dim]) -> Any:
    """The strides after the plan (None: row-major), as torch's views and copies leave them,
    so that a `view` after a rearrange is judged as torch would judge it."""
    dims = list(shape)

    def at(value: Arg, rank: int) -> int:
        assert isinstance(value, int)
        return value % rank if rank else 0

    for step in steps:
        rank = len(dims)
        if step.method == "unflatten":
            i = at(step.args[0], rank)
            after = [*dims[:i], *(sizes[a] for a in step.axes), *dims[i + 1:]]
            layout = strides.view_strides(dims, layout, after)[1]
        elif step.method == "squeeze":
            arg = step.args[0]
            drop = {at(a, rank) for a in (arg if isinstance(arg, tuple) else (arg,))}
            keep = [k for k in range(rank) if k not in drop]
            layout = strides.squeezed(dims, layout, keep)
            after = [dims[k] for k in keep]
        elif step.method in ("permute", "movedim"):
            if step.method == "permute":
                order = [at(a, rank) for a in step.args]
            else:
                source, target = step.args
                assert isinstance(source, tuple) and isinstance(target, tuple)
                order = _movedim_order(rank, tuple(int(a) for a in source if isinstance(a, int)),
                                       tuple(int(a) for a in target if isinstance(a, int)))
            layout = strides.permuted(dims, layout, order)
            after = [dims[k] for k in order]
        elif step.method == "flatten":
            start, end = at(step.args[0], rank), at(step.args[1], rank)
            after = [*dims[:start], product(dims[start:end + 1]), *dims[end + 1:]]
            layout = strides.view_strides(dims, layout, after)[1]  # a copy when not a view
        else:  # unsqueeze: a negative index counts in the result, one longer
            where = step.args[0]
            assert isinstance(where, int)
            k = where if where >= 0 else where + rank + 1
            layout = strides.unsqueezed(dims, layout, k)
            after = [*dims[:k], 1, *dims[k:]]
        dims = after
    return layout


def covered(pattern: Pattern, rank: int) -> int:
    """How many dimensions the ellipsis stands for in an input of this rank."""
    return rank - len(pattern.left.groups) + 1 if pattern.left.has_ellipsis else 0


def lengths_of(call: Call) -> dict[str, Any]:
    return dict(call.a.get("axes_lengths") or {})


def prepare(call: Call) -> tuple[Pattern, list[Group], list[Group], dict[str, Dim]]:
    """The pattern, expanded for the input's rank, and the sizes given (checked)."""
    pattern = call.a["pattern"]
    if not isinstance(pattern, str):
        raise PatternError(f"the pattern must be a string such as \"b c h w -> b (h w) c\", "
                           f"got {pattern!r}")
    parsed = parse(pattern)
    lengths: dict[str, Dim] = {}
    for name, value in lengths_of(call).items():
        if name not in parsed.left.names:
            raise PatternError(f"{name}= names no axis of the pattern")
        lengths[name] = _positive(name, value)
    left, right = expand(parsed, call.inputs[0].rank)
    return parsed, left, right, lengths


def rule(call: Call) -> Applied:
    """The shape rule: the input's shape rearranged, or a ShapeError saying why not."""
    x = call.inputs[0]
    try:
        pattern, left, right, lengths = prepare(call)
        sizes = axis_sizes(left, x.shape, lengths)
    except PatternError as err:
        raise ShapeError(f"rearrange: {err}",
                         explain=[(0, err.axis)] if err.axis is not None else []) from None
    shape = tuple(sizes[g[0]] if len(g) == 1 else product([sizes[a] for a in g])
                  for g in right)
    source = {a: i for i, g in enumerate(left) for a in g}
    parents = {j: sorted({source[a] for a in g}) for j, g in enumerate(right)}
    steps = plan(pattern, set(lengths), covered(pattern, x.rank))
    layout = _layout(x.shape, x.strides, steps, sizes)
    return Applied(TT(shape, x.dtype, layout), "einops.rearrange", parents=parents)


def call_steps(call: Call, every_rank: bool = False) -> list[Step]:
    """The plan for a call the rule accepted (what lowering writes). every_rank: the same
    methods for every rank, where `(...)` standing for no dimension would need fewer (a
    block whose uses differ there)."""
    pattern, _, _, lengths = prepare(call)
    return plan(pattern, set(lengths), 0 if every_rank else covered(pattern,
                                                                     call.inputs[0].rank))

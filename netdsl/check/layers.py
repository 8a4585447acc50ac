"""Layers: the catalogue's shape rules applied, repetition, shared weights."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .. import nodes as n
from .. import shapes as s
from ..catalogue import (
    REQUIRED,
)
from ..dims import (
    Dim,
    Sym,
    dim_str,
)
from ..errors import SourceError
from ..render import render_call
from ..values import (
    POISON,
    BlockFactory,
    BlockValue,
    Instance,
    LayerFactory,
    LayerValue,
    Poison,
    PrimaryTuple,
    Repeated,
    Tensor,
    TorchFactory,
    Why,
    describe,
    explain,
)
from .control import generalise_repetition, pin_fresh
from .scope import NO_INFERRED, Frame, SiteRecord, contains_poison, is_int, primary

if TYPE_CHECKING:
    from .checker import Checker


class Layers:
    """Applying layers: the catalogue's shape rules, repetition and shared weights."""

    def apply(self: Checker, layer: Any, inputs: list[Any], site: Any, frame: Frame,
              index: int = -1) -> Any:
        if isinstance(layer, Poison) or any(contains_poison(v) for v in inputs):
            return POISON
        inputs = [primary(v) for v in inputs]
        spec = getattr(layer, "spec", None)  # masks a layer takes as optional inputs
        optional = spec.forward.optional_inputs if spec is not None else range(0)
        for i, value in enumerate(inputs):
            if value is None and i in optional:  # `none`: that mask is not given
                continue
            if not isinstance(value, Tensor):
                pos = getattr(site, "pos", None)
                raise SourceError(f"layers and blocks are applied to tensors, got "
                                  f"{describe(value)}", pos)
        if isinstance(layer, LayerFactory):
            layer = self.configure(layer, [], [], site, site.pos, frame)
        elif isinstance(layer, TorchFactory):
            layer = self.configure(layer, [], [], site, site.pos, frame)
        elif isinstance(layer, BlockFactory):
            layer = self.configure(layer, [], [], site, site.pos, frame)
            if not isinstance(layer, BlockValue):
                return POISON
        if isinstance(layer, Repeated):
            # `(x, mask) -> Block * n`: the first input threads through the copies, the
            # others are handed unchanged to each
            value, extra = (inputs[0], inputs[1:]) if inputs else (inputs, [])
            if layer.shared and layer.copies is None:
                layer.copies = [self.fresh(layer.value, site, frame) for _ in range(layer.count)]
                for copy in layer.copies:
                    copy.shared, copy.binding = True, layer.binding
            steps = [value]
            for i in range(layer.count):
                item = layer.copies[i] if layer.copies else self.fresh(layer.value, site, frame)
                args = list(value) if isinstance(value, tuple) and not isinstance(
                    value, PrimaryTuple) and not extra else [primary(value), *extra]
                value = self.apply(item, args, site, frame, index=i)
                if contains_poison(value):
                    return POISON
                steps.append(value)
            if layer.count_expr is not None:
                value = generalise_repetition(steps, layer.count_expr)
            return value
        if isinstance(layer, LayerValue):
            return self.apply_layer(layer, inputs, site, frame, index)
        if isinstance(layer, BlockValue):
            return self.apply_block(layer, inputs, site, frame, index)
        raise SourceError(f"{describe(layer)} cannot be applied to tensors",
                          getattr(site, "pos", None))

    def fresh(self: Checker, value: Any, site: Any, frame: Frame) -> Any:
        """A new, unshared copy of a configured layer or block, for `* n`."""
        if isinstance(value, LayerValue):
            copy = LayerValue(value.spec, dict(value.args), set(value.given), value.label,
                              value.pos, value.site, value.torch_cls, value.torch_args)
            copy.arg_refs, copy.flag_refs = value.arg_refs, value.flag_refs
            return copy
        if isinstance(value, BlockValue):
            block = BlockValue(value.definition, dict(value.hyper), set(value.given),
                               value.call, value.label, value.pos, value.site)
            block.hyper_deps = value.hyper_deps
            return block
        if isinstance(value, (LayerFactory, TorchFactory, BlockFactory)):
            return value
        raise SourceError(f"cannot repeat {describe(value)}", getattr(site, "pos", None))

    def attr_name(self: Checker, frame: Frame, site: Any, value: LayerValue | BlockValue,
                  index: int) -> str:
        if value.shared and value.binding:
            base = value.binding
            if index >= 0:
                return f"{frame.prefix}{base}.{index}"
        else:
            base = self.site_names(frame.definition).get(id(value.site)) or "layer"
        if frame.loop and not value.shared:  # a new layer each iteration: layers.0, ...
            base = f"{base}.{'.'.join(map(str, frame.loop))}"
        if index >= 0:
            base = f"{base}.{index}"
        return frame.prefix + base

    def check_known_indices(self: Checker, indices: Tensor, args: dict[str, Any],
                            lv: LayerValue) -> None:
        """Indices check knows (`arange(8)`, or `arange(T)` once --input gives T) must be
        rows of the table, as torch's index check requires at run time."""
        producer = indices.producer
        if producer is None or "arange" not in producer.meta:
            return
        bounds = producer.meta["arange"]
        rows: Any = args.get("num_embeddings")
        if not is_int(rows) or not all(is_int(b) for b in bounds):
            return
        values = range(*(int(b) for b in bounds))
        if values and (max(values) >= rows or min(values) < 0):
            where = f" at {producer.pos.short}" if producer.pos is not None else ""
            raise SourceError(
                f"embedding has {rows} rows (num_embeddings), but its indices, "
                f"{producer.label}, go up to {max(values)}: torch refuses an index out of "
                f"range at run time", lv.pos, notes=[f"indices: {producer.label}{where}"],
                fix=f"make num_embeddings at least {max(values) + 1}")

    def apply_layer(self: Checker, lv: LayerValue, inputs: list[Tensor], site: Any, frame: Frame,
                    index: int) -> Any:
        spec = lv.spec
        if spec is None:
            return self.apply_opaque(lv, inputs, site, frame, index)
        if not spec.min_inputs <= len(inputs) <= spec.max_inputs:
            if spec.min_inputs == spec.max_inputs:
                want = f"{spec.min_inputs} input{'s' if spec.min_inputs > 1 else ''}"
            elif spec.max_inputs > 1000:
                want = f"{spec.min_inputs} or more inputs"
            else:
                want = f"{spec.min_inputs} to {spec.max_inputs} inputs"
            fix = "pass several tensors as a tuple: (a, b) -> " + spec.name if (
                spec.min_inputs > 1) else None
            raise SourceError(f"{spec.name} takes {want}, got {len(inputs)}", lv.pos, fix=fix)
        if spec.inferred or any(v is REQUIRED for v in lv.args.values()):
            args = {k: v for k, v in lv.args.items() if v is not REQUIRED}
            for name in spec.inferred:
                args.setdefault(name, None)
        else:  # the layer's own arguments as they are (never written: rules only read them)
            args = lv.args
        # an optional input written `none` reaches the rule as None, and is no edge
        types = cast(list[s.TT], [t.tt if t is not None else None for t in inputs])
        given = [t for t in inputs if t is not None]
        call = s.Call(spec.name, args, types, lv.given)
        try:
            applied = spec.rule(call)
        except s.ShapeError as err:
            if len(given) != len(inputs):  # explain by the given inputs' positions
                at = {i: j for j, i in enumerate(i for i, t in enumerate(inputs) if t is not None)}
                err.explain = [(at[i], axis) for i, axis in err.explain if i in at]
            raise self.shape_error(err, lv, given) from None
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            raise SourceError(f"invalid arguments for {spec.name}: {self._args_text(lv)}",
                              lv.pos) from None
        inputs = given
        if spec.name == "embedding" and inputs:
            self.check_known_indices(inputs[0], args, lv)
        if lv.torch_cls is not None and lv.torch_cls != applied.cls:
            raise SourceError(f"nn.{lv.torch_cls} does not fit its input "
                              f"{inputs[0].tt}: that input needs nn.{applied.cls}", lv.pos,
                              notes=[f"input: {inputs[0].tt}"])
        params = int(applied.params)
        if lv.shared:
            if lv.instance is None:
                pass
            else:
                first = lv.instance
                for key, value in applied.inferred.items():
                    if first.inferred.get(key) != value:
                        raise SourceError(
                            f"{lv.binding} shares its weights, so every input must fit them: "
                            f"{key} was {dim_str(first.inferred[key])} at its first use "
                            f"({first.pos.short if first.pos else '?'}), here it is "
                            f"{dim_str(value)}", getattr(site, "pos", None) or lv.pos,
                            notes=[f"input: {inputs[0].tt}"] + explain(
                                inputs[0].whys[-1] if inputs[0].whys else None))
                params = 0
        is_module = spec.module
        attribute = self.attr_name(frame, site, lv, index) if is_module else None
        values = args  # built for this call and not kept by the rule, so completed in place
        if applied.inferred:
            if values is lv.args:  # ... unless it is the layer's own
                values = dict(values)
            values.update(applied.inferred)
        node = self.new_node("layer" if is_module else "op", spec.name, attribute, lv.label,
                             spec, lv.pos, inputs, frame)  # rendered from meta when asked
        node.params = params
        for block in node.scope:  # each enclosing block use totals its layers
            block.meta["params"] += params
        node.meta["cls"] = applied.cls
        node.meta["args"] = values
        if lv.shared and lv.instance is not None:
            node.meta["shared_with"] = lv.instance.node
        if lv.shared and lv.instance is None:
            lv.instance = Instance(dict(applied.inferred), node, getattr(site, "pos", lv.pos))
        if lv.arg_refs:
            literals = frozenset(v for v in args.values() if v.__class__ is int)
            applied.outputs = pin_fresh(applied.outputs, inputs, lv.arg_refs, lv.flag_refs,
                                        literals)
        outputs = self.wrap_outputs(applied, inputs, node, lv)
        frame.record(lv.site, SiteRecord("layer", lv, node, applied.inferred or NO_INFERRED,
                                         applied.cls, index=index))
        for message in applied.warnings:
            self.warn(message, lv.pos, frame)
        self.warn_pitfalls(lv, inputs, frame)
        return outputs

    def _args_text(self: Checker, lv: LayerValue) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in lv.args.items() if k in lv.given) or "none"

    def apply_opaque(self: Checker, lv: LayerValue, inputs: list[Tensor], site: Any, frame: Frame,
                     index: int) -> Any:
        """An nn class outside the catalogue: its stage's annotation gives the shape."""
        if not isinstance(site, n.Stage) or site.shape is None:
            raise SourceError(f"nn.{lv.torch_cls} is not in netdsl's catalogue, so its output "
                              f"shape must be given", lv.pos,
                              fix=f"annotate the stage: -> {lv.label} : [B, ...]")
        shape = self.annotation_shape(site.shape, frame)
        dtype = inputs[0].tt.dtype if inputs else "float"
        name = self.attr_name(frame, site, lv, index)
        args, kwargs = lv.torch_args or ([], {})
        node = self.new_node("layer", f"nn.{lv.torch_cls}", name, lv.label,
                             render_call(f"nn.{lv.torch_cls}", args, kwargs), lv.pos, inputs,
                             frame)
        node.meta["cls"] = lv.torch_cls
        node.meta["opaque"] = True
        tt = s.TT(tuple(shape), dtype)
        node.outputs = [tt]
        why = tuple(Why(d, f"the annotation at {site.shape.pos.short}", kind="arg")
                    for d in shape)
        frame.record(site, SiteRecord("layer", lv, node, {}, lv.torch_cls or "", index=index))
        self.warn(f"nn.{lv.torch_cls} is outside netdsl's catalogue: its parameters are not "
                  f"counted and its shape is taken from the annotation", lv.pos, frame)
        return Tensor(tt, why, node, 0)

    def annotation_shape(self: Checker, spec: n.ShapeSpec, frame: Frame) -> list[Dim]:
        out: list[Dim] = []
        for d in spec.dims:
            if isinstance(d, n.Name) and d.id not in frame.env:
                out.append(Sym.named(d.id))
                continue
            value = self.eval(d, frame)
            if not (is_int(value) or isinstance(value, Sym)):
                raise SourceError(f"a dimension must be an integer or a name, got "
                                  f"{describe(value)}", d.pos)
            out.append(value)
        return out

"""Pitfalls: warnings for legal code that does not do what it seems to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dims import (
    Sym,
)
from ..errors import Pos
from ..values import (
    LayerValue,
    Tensor,
)
from .scope import Frame

if TYPE_CHECKING:
    from .checker import Checker


class Pitfalls:
    """Warnings for legal code that does not do what it seems to."""

    def warn_pitfalls(self: Checker, lv: LayerValue, inputs: list[Tensor], frame: Frame) -> None:
        """Programs that check and run but do not compute what they seem to."""
        spec, x = lv.spec, inputs[0]
        assert spec is not None
        if spec.name in ("lstm", "gru", "rnn") and x.tt.rank == 3 and not lv.args.get(
                "batch_first") and self.is_batch(x, 0):
            self.warn(f"{spec.name} reads dimension 0 of its input as time, but dimension 0 of "
                      f"{x.tt} is the batch: without batch_first=true the samples of a batch "
                      f"are mixed as the steps of one sequence", lv.pos, frame,
                      fix=f"add batch_first=true to {spec.name}")
        if spec.name == "linear" and x.tt.rank == 4 and x.tt.strides is None and \
                x.shape[2] == x.shape[3] != x.shape[1]:
            # channels first, [N, C, H, W] with a square image: channels-last tensors
            # ([N, H, W, C], ConvNeXt's and Swin's MLPs) use linear on purpose
            self.warn(f"linear on the 4-dimensional {x.tt} acts on the last dimension only, "
                      f"keeping {x.tt.rank - 1} others; a flatten before it may be missing",
                      lv.pos, frame, fix="e.g. -> flatten -> linear(...)")
        if lv.args.get("inplace") is True and any(
                isinstance(v, Tensor) and v is x for v in frame.env.values()):
            self.overwritten[id(x)] = (x, lv, frame)

    def is_batch(self: Checker, t: Tensor, axis: int) -> bool:
        """Whether a dimension is the batch: the size B, or a network input's size declared
        as B (given a number by --input)."""
        why = t.whys[axis] if axis < len(t.whys) else None
        return t.shape[axis] == Sym.named("B") or (why is not None and id(why) in
                                                   self.batch_whys)

    def warn_overwritten(self: Checker, name: str, value: Tensor, pos: Pos) -> None:
        _, lv, frame = self.overwritten[id(value)]
        self.warn(f"{lv.label} overwrites {name!r} in place, and {name!r} is used again at "
                  f"{pos.short}: that use reads {lv.label}'s output, not the {name!r} computed "
                  f"before it", lv.pos, frame, fix="leave out inplace=true")

"""Memory layout: which tensors `view` can reshape without a copy.

`permute`, `transpose`, `chunk` and `split` return views whose elements are not laid out
in row-major order; activations keep their input's layout, and most layers write a fresh,
contiguous tensor. PyTorch's `view` works on such a tensor only when the new shape can be
described with strides over the same memory (`computeStride` in ATen); otherwise it raises
and `reshape` (which copies) is needed. Strides here are products of sizes, so they are
polynomials in the symbolic dimensions as the sizes are.
"""

from __future__ import annotations

from collections.abc import Sequence

from .dims import Dim, exact_div

Strides = tuple[Dim, ...]


def contiguous(shape: Sequence[Dim]) -> Strides:
    """Row-major strides: the last dimension moves by 1."""
    out: list[Dim] = []
    step: Dim = 1
    for size in reversed(shape):
        out.append(step)
        step = size * step
    return tuple(reversed(out))


def normal(shape: Sequence[Dim], strides: Strides | None) -> Strides | None:
    """None when the strides are the row-major ones (size-1 dimensions do not matter, as in
    torch's is_contiguous), else the strides."""
    if strides is None:
        return None
    expected = contiguous(shape)
    if all(size == 1 or a == b for size, a, b in zip(shape, strides, expected, strict=True)):
        return None
    return strides


def _properly_divides(a: Dim, b: Dim) -> bool:
    """a < b for sizes built by multiplying: a divides b and is not b."""
    if a == b:
        return False
    q = exact_div(b, a)
    return q is not None and (not isinstance(q, int) or q > 1)


def view_strides(shape: Sequence[Dim], strides: Strides | None,
                 new_shape: Sequence[Dim]) -> tuple[bool, Strides | None]:
    """Whether `x.view(new_shape)` works for x of this shape and strides (None: row-major),
    and the strides of the result (None: row-major). ATen's computeStride,
    with `view_numel < tensor_numel` read as "divides and is smaller" so that it decides
    symbolic sizes too."""
    if strides is None:
        return True, None  # a contiguous tensor can be viewed as any shape of its size
    new: list[Dim] = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base: Dim = strides[-1] if strides else 1
    tensor_numel: Dim = 1
    view_numel: Dim = 1
    for tensor_d in range(len(shape) - 1, -1, -1):
        tensor_numel = shape[tensor_d] * tensor_numel
        if tensor_d == 0 or (shape[tensor_d - 1] != 1
                             and strides[tensor_d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (_properly_divides(view_numel, tensor_numel)
                                   or new_shape[view_d] == 1):
                new[view_d] = view_numel * chunk_base
                view_numel = new_shape[view_d] * view_numel
                view_d -= 1
            if view_numel != tensor_numel:
                return False, None
            if tensor_d > 0:
                chunk_base = strides[tensor_d - 1]
                tensor_numel = 1
                view_numel = 1
    if view_d != -1:
        return False, None
    return True, normal(new_shape, tuple(new))


def permuted(shape: Sequence[Dim], strides: Strides | None, axes: Sequence[int]) -> Strides | None:
    """The strides after `permute(axes)`."""
    old = strides if strides is not None else contiguous(shape)
    return normal([shape[i] for i in axes], tuple(old[i] for i in axes))


def squeezed(shape: Sequence[Dim], strides: Strides | None, keep: Sequence[int]) -> Strides | None:
    if strides is None:
        return None
    return normal([shape[i] for i in keep], tuple(strides[i] for i in keep))


def unsqueezed(shape: Sequence[Dim], strides: Strides | None, axis: int) -> Strides | None:
    """torch gives the new size-1 dimension the stride size * stride of the one it precedes."""
    if strides is None:
        return None
    inserted = shape[axis] * strides[axis] if axis < len(shape) else 1
    new_shape = (*shape[:axis], 1, *shape[axis:])
    return normal(new_shape, (*strides[:axis], inserted, *strides[axis:]))

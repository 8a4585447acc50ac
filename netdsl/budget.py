"""A total budget on the expanded program: how many graph nodes a check makes, and for how long.

Each stage has its own limit (10000 repetitions, 32 nested blocks), but limits per stage
multiply: `A2: A1 * 10000` over `A1: A0 * 10000`, or 30 levels of `A(i): A(i-1) -> A(i-1)`,
expand to 10^8 or 2^30 layers, and the check would run until memory ran out. The budget
bounds the whole: every node (layer, operation, block use) counts, and the time spent is
read every few hundred steps (nodes and statements) so that a body that makes few nodes but
runs many statements is bounded too.

The time is the checking thread's CPU time, not the wall clock: the same program must pass
or fail whatever else the machine is doing (on a loaded machine a wall-clock limit failed
programs that the node limit would have stopped, with another message at another place).

Real networks are far inside it: ResNet-152 makes 567 nodes and checks in milliseconds. A
node and the frames around it cost about 3 KB, so the node limit keeps a check under about
300 MB.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .errors import Diagnostic, Pos

if TYPE_CHECKING:
    from .check import Frame

MAX_NODES = 100_000  # layers, operations and block uses, all networks of a program together
MAX_SECONDS = 30.0  # CPU time of one check (a real network takes milliseconds)
CLOCK_EVERY = 4096  # steps between two readings of the clock (a reading costs up to ms in a VM)


class BudgetExceeded(Exception):  # named for what happened, like StopIteration
    """Ends the whole check at once: not a SourceError, so no statement catches it and goes on
    expanding the rest of the program. Carries the located diagnostic."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


class Budget:
    """What a check may still spend; `node()` and `step()` raise BudgetExceeded when spent."""

    __slots__ = ("deadline", "nodes", "steps")

    def __init__(self) -> None:
        self.nodes = 0
        self.steps = 0
        self.deadline = time.thread_time() + MAX_SECONDS

    def node(self, pos: Pos | None, frame: Frame | None) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise exceeded(f"the program expands to more than {MAX_NODES:,} layers, operations "
                           f"and block uses, netdsl's limit", pos, frame)
        self.step(pos, frame)

    def step(self, pos: Pos | None, frame: Frame | None, count: int = 1) -> None:
        """One step, or `count` at once (the statements of a block use copied rather than
        run, see check/replay.py): the clock is read when the count passes a multiple of
        CLOCK_EVERY."""
        before = self.steps
        self.steps += count
        if self.steps // CLOCK_EVERY != before // CLOCK_EVERY and (
                time.thread_time() > self.deadline):
            raise exceeded(f"checking the program takes more than {MAX_SECONDS:g} seconds of "
                           f"processor time, netdsl's limit", pos, frame)


def exceeded(message: str, pos: Pos | None, frame: Frame | None) -> BudgetExceeded:
    """The error, located at the use of the innermost block being expanded (a repetition
    `A0 * 10000` or a plain use): what multiplies the program is block uses inside
    block uses, and the notes name each enclosing use up to the network."""
    uses: list[tuple[str, Pos]] = []
    while frame is not None:
        if frame.call_pos is not None:
            uses.append((frame.definition.name, frame.call_pos))
        frame = frame.caller
    if uses:
        name, pos = uses[0]
        message += f"; it goes over in this use of block {name}"
    notes = [f"in block {name} used at {where}" for name, where in uses[1:]]
    return BudgetExceeded(Diagnostic(message, pos, notes=notes))

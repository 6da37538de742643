"""RTAS: the firmware call interface, a token table built from decorated handlers.

Like QEMU's spapr_rtas.c, the call table is small and central, and the same
table produces the device-tree token properties. Each handler returns exactly
one status (a list of output words); the dispatcher stores it once.
"""

from collections.abc import Callable
from dataclasses import dataclass

from firmware.abi import RtasStatus

FIRST_TOKEN = 0x2001


@dataclass(frozen=True)
class RtasCall:
    """Metadata that @rtas_call attaches to a handler method."""

    name: str
    nargs: int
    nret: int


def rtas_call(name: str, nargs: int, nret: int) -> Callable:
    """Declare a method as the handler of the RTAS call ``name``."""

    def mark(fn: Callable) -> Callable:
        fn.rtas_call = RtasCall(name, nargs, nret)
        return fn

    return mark


@dataclass
class CallRecord:
    """One RTAS call as the guest made it, for reports and teaching views."""

    time: float
    name: str
    args: tuple[int, ...]
    status: int | None


class Rtas:
    """The RTAS instance of one machine: tokens, handlers and injected faults."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._by_token: dict[int, tuple[RtasCall, Callable]] = {}
        self.tokens: dict[str, int] = {}
        self.faults: dict[str, list[int]] = {}
        """Statuses to return instead of calling the handler, consumed one per call."""
        self.command_faults: dict[tuple[str, int], list[int]] = {}
        """The same, only for calls whose first argument (the command) matches."""
        self.log: list[CallRecord] = []

    def install(self, provider: object) -> None:
        """Add every @rtas_call method of ``provider`` to the table."""
        for attr in dir(provider):
            fn = getattr(provider, attr)
            spec = getattr(fn, "rtas_call", None)
            if spec is None:
                continue
            token = FIRST_TOKEN + len(self._by_token)
            self._by_token[token] = (spec, fn)
            self.tokens[spec.name] = token

    def token(self, name: str) -> int | None:
        """rtas_token(): the token of a call, or None (RTAS_UNKNOWN_SERVICE)."""
        return self.tokens.get(name)

    def call(self, token: int, *args: int) -> int | None:
        """rtas_call(token, nargs, nret, ...): the status word, or None if it never returns."""
        entry = self._by_token.get(token)
        if entry is None:
            status: int | None = RtasStatus.PARAMETER_ERROR
            name = f"token {token:#x}"
        else:
            spec, fn = entry
            name = spec.name
            queued = self.faults.get(name)
            by_command = self.command_faults.get((name, args[0] if args else None))
            if queued:
                status = queued.pop(0)
            elif by_command:
                status = by_command.pop(0)
            elif len(args) != spec.nargs:
                status = RtasStatus.PARAMETER_ERROR
            else:
                status = fn(*args)
        self.log.append(CallRecord(self._clock(), name, tuple(args), status))
        return None if status is None else int(status)

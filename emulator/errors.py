"""The emulator's own errors: bad input and emulator faults, never guest mistakes.

Guest mistakes become RTAS status codes and kernel messages; these exceptions
are for the person running the emulator, and every message says what is wrong
and how to fix it.
"""


class FadumpEmuError(Exception):
    """Base of every error the command line reports without a traceback."""

    exit_status = 1


class BadInputError(FadumpEmuError):
    """The user's input (a file, an option) cannot be used; exit status 2."""

    exit_status = 2


class ScenarioError(BadInputError):
    """A mistake in a scenario file, located as ``file:line: what is wrong``."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        self.reason = message
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(where + message)


class OutputExistsError(BadInputError):
    """Refusing to overwrite something the user saved."""


class MemoryAccessError(FadumpEmuError):
    """An emulator component addressed memory outside the partition."""

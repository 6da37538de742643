"""The kernel profiles: one registry from a profile name to the class that models that release.

Each class's ``version`` is the kernels.versions entry of the same name (tests/kernels/test_versions.py).
A profile's package is imported the first time its class is asked for: a run of a 3.4 scenario does not
pay for the modules of 6.1, 6.10 and 6.12 (start-up time, tests/emulator/test_startup.py).
"""

import importlib
from collections.abc import Iterator, MutableMapping

from kernels.profile import KernelProfile


class LazyProfiles(MutableMapping):
    """Profile name -> class, each entry given as "package:Class" and imported when first looked up."""

    def __init__(self, where: dict[str, str]):
        self._entries: dict[str, type[KernelProfile] | str] = dict(where)

    def __getitem__(self, name: str) -> type[KernelProfile]:
        entry = self._entries[name]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            entry = self._entries[name] = getattr(importlib.import_module(module), attr)
        return entry

    def __setitem__(self, name: str, cls: type[KernelProfile]) -> None:
        self._entries[name] = cls

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"LazyProfiles({self._entries!r})"


PROFILES: MutableMapping[str, type[KernelProfile]] = LazyProfiles({
    "linux-3.4": "kernels.linux34:Linux34", "linux-6.1": "kernels.linux61:Linux61",
    "linux-6.10": "kernels.linux610:Linux610", "linux-6.12": "kernels.linux612:Linux612",
    "linux-7.2": "kernels.linux612:Linux72",
})

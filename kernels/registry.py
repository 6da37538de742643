"""The kernel profiles: one registry from a profile name to the class that models that release.

Each class's ``version`` is the kernels.versions entry of the same name (tests/kernels/test_versions.py).
"""

from kernels.linux34 import Linux34
from kernels.linux61 import Linux61
from kernels.linux610 import Linux610
from kernels.linux612 import Linux72, Linux612
from kernels.profile import KernelProfile

PROFILES: dict[str, type[KernelProfile]] = {
    "linux-3.4": Linux34, "linux-6.1": Linux61, "linux-6.10": Linux610, "linux-6.12": Linux612, "linux-7.2": Linux72,
}

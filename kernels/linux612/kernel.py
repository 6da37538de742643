"""Linux 6.12 and 7.2 pSeries kernels.

Their fadump code is 6.10's (kernels.linux610) with the differences listed in
kernels.versions: where the parameter area is set up and reserved, which CMA
line is printed and when (setup_arch), the page flags and page_type values, the
VMCOREINFO keys and the objects behind them (kernels.mmzone, kernels.cputable,
kernels.kallsyms). Nothing here re-implements a function; the shared code reads
``self.version``.
"""

from kernels.linux610.kernel import Linux610
from kernels.memmap import PageLayout
from kernels.versions import LINUX_6_12, LINUX_7_2


class Linux612(Linux610):
    """Profile "linux-6.12" (Debian linux-source-6.12 6.12.117; measured on a real 6.12.117 kernel)."""

    profile = "linux-6.12"
    version = LINUX_6_12
    page_layout = PageLayout.of(LINUX_6_12.page)


class Linux72(Linux612):
    """Profile "linux-7.2" (Debian sid linux-source-7.2 7.2.13): the range CMA line, the MIN_RMA parameter area."""

    profile = "linux-7.2"
    version = LINUX_7_2
    page_layout = PageLayout.of(LINUX_7_2.page)

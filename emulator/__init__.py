"""fadump-emu: a POWER partition that crashes and is saved by firmware-assisted dump."""

import os

__version__ = "0.1.0"


BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
"""What OpenBLAS (numpy's linear algebra, loaded by ``import numpy``) reads for its thread count, in its order."""


def single_threaded_blas(environ=os.environ) -> None:
    """Ask numpy's OpenBLAS for one thread unless the user chose a number.

    fadump-emu does no linear algebra, yet ``import numpy`` starts an OpenBLAS thread per core, and each spins for
    about 0.1 s of CPU before it sleeps (`import numpy` measured 0.18 s of CPU on the 2-core development machine,
    0.07 s with one thread): in every process that imports numpy, the command line's, the forkserver of
    ``fadump-emu test``, each Dask worker, competing with the workers for the cores. With one thread it starts none. Only before numpy is imported
    (the command line and `make bench` do it first); child processes (workers, tools) inherit the setting."""
    if not any(name in environ for name in BLAS_THREAD_VARIABLES):
        environ["OPENBLAS_NUM_THREADS"] = "1"

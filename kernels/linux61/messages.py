"""Console messages 6.1's fadump prints that 6.10 dropped or reworded (the rest are kernels.linux610.messages).

Source: arch/powerpc/platforms/pseries/rtas-fadump.c (6.1) rtas_fadump_process() ("rtas fadump: " via pr_fmt) and
arch/powerpc/kernel/fadump.c (6.1) fadump_setup_cpu_notes_buf().
"""

from kernels.linux610.messages import F, R

NOT_VALID = R + "Dump taken by platform is not valid"
INCOMPLETE = R + "Dump taken by platform is incomplete"
HEADER_NOT_VALID = R + "Crash info header is not valid."
NOTES_ALLOC_FAILED = F + "Failed to allocate {size} bytes for CPU notes buffer"

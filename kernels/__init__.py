"""The Linux kernels of the partition: first (production) and capture kernels."""

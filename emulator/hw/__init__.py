"""The partition's hardware: RAM, CPUs, the device tree, the console and the machine that holds them.

The lowest layer: it imports nothing from firmware, kernels or the rest of the emulator.
"""

"""fadump-emu: a POWER partition that crashes and is saved by firmware-assisted dump."""

__version__ = "0.1.0"

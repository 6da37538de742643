"""The firmwares a machine can run, by their [machine] firmware name."""

from firmware.fadump import FadumpFirmware
from firmware.phyp import PhypFadump
from firmware.qemu_spapr import QemuFadump

FIRMWARES: dict[str, type[FadumpFirmware]] = {cls.name: cls for cls in (PhypFadump, QemuFadump)}
"""[machine] firmware = "phyp" (PowerVM, the default) or "qemu" (QEMU >= 10.2 pseries)."""
DEFAULT_FIRMWARE = "phyp"


def firmware_class(name: str) -> type[FadumpFirmware]:
    """The firmware class called ``name`` (KeyError for an unknown one)."""
    return FIRMWARES[name]

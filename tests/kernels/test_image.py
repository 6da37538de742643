"""kernels.image: the kernel text a boot loads is the same bytes for one build in every process, and differs
between builds (release, machine), without numpy.random (start-up time)."""

import hashlib
import subprocess
import sys

import numpy as np

from kernels.image import SYMBOLS, TEXT_SIZE, KernelImage, _text
from emulator.hw.ram import PartitionRAM


def loaded_text(release: str, machine: str = "ppc64le") -> bytes:
    ram = PartitionRAM(64 << 20)
    KernelImage(release, machine).load(ram, boot=1)
    return bytes(ram.read(SYMBOLS["_stext"], TEXT_SIZE))


def test_one_build_loads_the_same_text_in_every_process():
    here = hashlib.sha256(loaded_text("3.4.0-fadump-emu")).hexdigest()
    code = ("import hashlib\n"
            "from tests.kernels.test_image import loaded_text\n"
            "print(hashlib.sha256(loaded_text('3.4.0-fadump-emu')).hexdigest())\n")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert here == there


def test_builds_of_another_release_or_byte_order_load_other_text():
    texts = {loaded_text("3.4.0-fadump-emu"), loaded_text("6.10.0-fadump-emu"),
             loaded_text("3.4.0-fadump-emu", "ppc64")}
    assert len(texts) == 3


def test_the_text_looks_like_code_not_like_zeros_and_cannot_be_changed_in_place():
    text = _text(hashlib.sha256(b"some build").digest())
    assert len(text) == TEXT_SIZE and not text.flags.writeable
    counts = np.bincount(text, minlength=256)
    assert counts.min() > 0.8 * TEXT_SIZE / 256 and counts.max() < 1.2 * TEXT_SIZE / 256


def test_making_the_text_imports_no_numpy_random():
    code = ("import sys, hashlib\n"
            "from kernels.image import _text\n"
            "_text(hashlib.sha256(b'x').digest())\n"
            "print('numpy.random' in sys.modules)\n")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"

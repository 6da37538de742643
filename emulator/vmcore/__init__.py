"""Reading vmcore files back: ELF and kdump-compressed dumps, inspect and dmesg."""

"""PowerVM (PHYP) firmware model: RTAS and firmware-assisted dump."""

"""The scenario language: the TOML model, its key tables, the fault catalog and the loader."""

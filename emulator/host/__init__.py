"""Host tools: Debian's ppc64el tools, the real-kernel reference builder, debuggers and the benchmark."""

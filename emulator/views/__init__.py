"""Views of a run for people: memory maps, explain's narration, the trace, progress and the HTML report."""

"""Developer tools: generators for the documentation (``python -m chainrule.tools.optable``)."""

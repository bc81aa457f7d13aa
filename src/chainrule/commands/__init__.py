"""One module per ``chainrule`` subcommand (``add_arguments`` and ``run``)."""

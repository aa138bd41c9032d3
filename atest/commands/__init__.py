"""The command line: one module per subcommand; each parses options, calls atest.core, renders."""

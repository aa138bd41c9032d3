"""Everything that is not the command line: data, sandbox, rewards, metrics, training.

Nothing under this package imports typer or rich, so it can be used as a library.
"""

"""atest: adversarial RL for LLM unit-test generation (UTRL and ATGEN)."""

__version__ = "0.1.0"

"""Fixtures shared across the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama with a trained byte-level BPE tokenizer and a chat template, saved with
    `save_pretrained` (loads like any model folder; builds in about a second)."""
    from atest.core.models import build_tiny_model

    out = tmp_path_factory.mktemp("tiny-model")
    build_tiny_model(out)
    return out

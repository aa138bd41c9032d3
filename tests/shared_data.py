"""The real datasets beside the repository (../shared/data), for the tests that read them.

They are not part of the repository: a clone without them skips those tests, with the
reason, instead of failing. Every test that reads them takes its paths and its skip mark
from here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
APPS = DATA / "apps"
LEETCODE = DATA / "leetcode" / "LeetCodeDataset-v0.3.1-test.jsonl.gz"
needs_data = pytest.mark.skipif(
    not APPS.is_dir() or not LEETCODE.is_file(), reason="../shared/data not present"
)

.PHONY: demo test lint venv venv-test

venv:
	@bash scripts/setup-venv.sh

venv-test:
	@bash scripts/setup-venv.sh --test

demo: venv
	.venv/bin/atest demo --out demo-out

# One pytest-xdist worker per logical CPU (at most 4); tests/conftest.py keeps the tests of an
# expensive shared fixture (vLLM server, Ray cluster) on one worker and hands the slow tests out first;
# the 30 slowest tests are listed at the end (where the suite's time goes, issue 28).
test: venv-test
	.venv/bin/python -m ruff check atest tests bench
	.venv/bin/python -m pytest -q -n logical --maxprocesses 4 --dist loadgroup --no-loadscope-reorder --durations 30

lint: venv-test
	.venv/bin/python -m ruff check atest tests bench
	.venv/bin/python -m ruff format --check atest tests bench

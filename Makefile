.PHONY: demo test lint venv venv-test

venv:
	@bash scripts/setup-venv.sh

venv-test:
	@bash scripts/setup-venv.sh --test

demo: venv
	.venv/bin/atest demo --out demo-out

test: venv-test
	.venv/bin/python -m ruff check atest tests bench
	.venv/bin/python -m pytest -q

lint: venv-test
	.venv/bin/python -m ruff check atest tests bench
	.venv/bin/python -m ruff format --check atest tests bench

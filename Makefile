.PHONY: demo test lint bench venv

venv:
	@bash scripts/setup-venv.sh

demo: venv
	.venv/bin/atest demo --out demo-out

test: venv
	.venv/bin/python -m ruff check atest tests bench
	.venv/bin/python -m pytest -q

lint: venv
	.venv/bin/python -m ruff check atest tests bench
	.venv/bin/python -m ruff format --check atest tests bench

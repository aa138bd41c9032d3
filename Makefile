.PHONY: demo test lint venv venv-vllm

venv:
	@bash scripts/setup-venv.sh

venv-vllm:
	@bash scripts/setup-venv.sh --vllm

demo: venv
	.venv/bin/atest demo --out demo-out

test: venv-vllm
	.venv/bin/python -m ruff check atest tests bench
	.venv/bin/python -m pytest -q

lint: venv
	.venv/bin/python -m ruff check atest tests bench
	.venv/bin/python -m ruff format --check atest tests bench

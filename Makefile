# Two commands: `make demo` and `make test`. Both set up what they need first.
PY := .venv/bin/python
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: setup demo test lint clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m drills.cli.main demo

test: setup
	@bash scripts/test.sh

lint: setup
	.venv/bin/ruff check .

clean:
	-$(PY) -m drills.cli.main lab down
	rm -rf var

# Two commands: `make demo` and `make test`. Both set up what they need first.
PY := .venv/bin/python
export REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: setup demo test bench lint lock clean openapi

setup:
	@bash scripts/setup.sh

demo: setup
	$(PY) -m drills.cli.main demo

test: setup
	@bash scripts/test.sh

# Every performance figure beside its peer or goal (bench/run_all.py): bench/results.json and the
# table in docs/performance.md. Needs root and the lab; 15 to 20 minutes.
bench: setup
	$(PY) bench/run_all.py

lint: setup
	.venv/bin/ruff check .

# Python versions move only here, on purpose: `make lock` moves every package in
# requirements/lock.txt, `make lock PACKAGES="django celery"` only those. Review the diff,
# `make test`, commit. (uv, which writes it, is a dev dependency: `make setup` installs it.)
lock: setup
	@bash scripts/lock.sh $(PACKAGES)

# The REST API's OpenAPI schema, committed (tests/web/test_openapi_schema.py checks it is current).
openapi:
	$(PY) manage.py spectacular --validate --fail-on-warn --file schema/openapi.yaml

clean:
	-$(PY) -m drills.cli.main lab down
	rm -rf var

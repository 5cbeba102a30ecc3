#!/usr/bin/env bash
# `make lock`: regenerate requirements/lock.txt on purpose, to move to new versions.
#   bash scripts/lock.sh             every package to the newest release pyproject.toml allows
#   bash scripts/lock.sh django ...  only the packages named (and what they need); every other pin
#                                    stays, so a dependency just added to pyproject.toml is locked
#                                    without moving anything else
# The lock holds the runtime dependencies, the dev extra, pip itself and the build backend from
# [build-system] requires (so `pip install --no-build-isolation -e .` cannot pull a new setuptools),
# each with the hashes of all its files, resolved for CPython 3.11 on x86_64 Linux (what setup.sh
# and CI run) whichever machine runs this. bcc is not in it: it comes from Debian (setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'lock: %s\n' "$*"; }
lock=requirements/lock.txt
uv=.venv/bin/uv
if [ ! -x "$uv" ]; then
  say "no $uv: run 'make setup' first (uv is a dev dependency, installed from the lock)"
  exit 1
fi
if [ $# -eq 0 ]; then
  moving=(--upgrade)
  say "moving every package to the newest release that pyproject.toml allows"
else
  moving=()
  for package in "$@"; do moving+=(--upgrade-package "$package"); done
  say "moving only: $*"
fi
mkdir -p requirements
# pip and the build backend are not dependencies of the project: they come in on standard input.
.venv/bin/python -c '
import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(["pip", *tomllib.load(f)["build-system"]["requires"]]))
' | "$uv" pip compile --quiet pyproject.toml - --extra dev \
  --generate-hashes --no-strip-markers \
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  --custom-compile-command 'make lock' "${moving[@]}" -o "$lock"
say "wrote $lock; 'make setup' installs it. Review what moved with: git diff $lock"

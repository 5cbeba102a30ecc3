#!/usr/bin/env bash
# Idempotent set-up for Drillhall on Debian 12. Prints what it did; does nothing twice.
# Without root it says what is missing and carries on with what works.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
PY=${PYTHON:-python3}

# 1. Debian packages (root only).
# postgresql: the binaries only (initdb, postgres) for the PostgreSQL canary's tests, which start
# their own throwaway server; the Debian cluster service is never started (policy-rc.d / no systemd).
# libpango-1.0-0, libpangoft2-1.0-0, libharfbuzz-subset0, fonts-dejavu-core: what WeasyPrint (PDF
# reports) loads at run time; poppler-utils: pdftotext/pdftoppm, which the report tests read PDFs with.
# systemd: only for `systemd-analyze verify` of the deploy units (tests/deploy); nothing is started by it.
# prometheus-alertmanager: the binary only; the demo and the tests start an Alertmanager of their
# own on loopback when they need one (drills/lab/local_alertmanager.py). Debian's service is switched
# off below if this set-up installed it.
DEB_PKGS="systemd redis-server redis-sentinel nftables iproute2 iputils-ping fuse3 python3-bpfcc linux-headers-cloud-amd64 chromium chromium-driver socat dnsmasq-base dnsutils stress-ng postgresql prometheus-alertmanager libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core poppler-utils"
missing=()
for p in $DEB_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ $IS_ROOT = 1 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
    # The package enables its service (and starts it where policy-rc.d allows): Drillhall runs
    # its own Alertmanager when it needs one, so Debian's stays off.
    if [[ " ${missing[*]} " == *" prometheus-alertmanager "* ]] && command -v systemctl >/dev/null; then
      systemctl disable --quiet prometheus-alertmanager.service 2>/dev/null || true
      if [ -d /run/systemd/system ]; then systemctl stop prometheus-alertmanager.service || true; fi
      say "Alertmanager: Debian's prometheus-alertmanager service switched off (Drillhall starts its own)"
    fi
  else
    say "MISSING Debian packages (need root: sudo apt-get install ${missing[*]}); continuing"
  fi
else
  say "Debian packages: all present"
fi

if command -v prometheus-alertmanager >/dev/null; then
  am_version=$(prometheus-alertmanager --version 2>&1 | awk 'NR == 1 {print $3}')
  say "Alertmanager: prometheus-alertmanager ${am_version:-?} (the demo and the tests start their own; drills silence alerts in the one DRILLHALL_ALERTMANAGER_URL names)"
else
  say "MISSING Alertmanager (apt-get install prometheus-alertmanager): the demo runs without silences, its tests cannot run"
fi

# 2. Virtualenv and Python packages.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  $PY -m venv .venv
fi
# Every Python package (runtime, the dev extra, pip itself and the build backend) comes from the
# lock file, hash-checked, so every machine gets the same versions; `make lock` moves them on
# purpose. The project itself goes in editable, without dependencies (the lock has them all) and
# without build isolation (the locked setuptools builds it, not whatever is newest today).
lock=requirements/lock.txt
stamp=.venv/.drillhall-installed
reason=
if [ ! -f "$stamp" ]; then
  reason="nothing installed from it yet"
elif [ "$lock" -nt "$stamp" ]; then
  reason="$lock is newer than the last install"
elif [ pyproject.toml -nt "$stamp" ]; then
  reason="pyproject.toml is newer than the last install"
fi
if [ -n "$reason" ]; then
  say "installing Python packages from $lock ($reason)"
  .venv/bin/python -m pip install -q --require-hashes -r "$lock"
  .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
  if ! problems=$(.venv/bin/python -m pip check); then
    printf '%s\n' "$problems"
    say "FAILED: the installed packages do not fit together (above); if pyproject.toml gained a"
    say "dependency, lock it: make lock PACKAGES=<its name>"
    exit 1
  fi
  touch "$stamp"
else
  say "Python packages: up to date with $lock"
fi
# Bytecode for the project's own modules. Where PYTHONDONTWRITEBYTECODE is set (these machines
# set it), Python still reads cached bytecode but never writes it, so every process (each
# worker, agent and CLI command the demo and the tests start) compiled every module it imported
# again: about 0.3 s a process. Python checks each file's source time, so a stale one is
# only skipped, never used.
if .venv/bin/python -m compileall -q -j 0 drillhall drills injector verifier ebpf bench tests >/dev/null; then
  say "bytecode: compiled the project's modules (Python only reads it where PYTHONDONTWRITEBYTECODE is set)"
else
  say "bytecode: could not compile every module; they compile as they are imported"
fi

# The SECRET_KEY of a local install: a random key in var/secret-key (0600, git-ignored), written
# once, so that `make demo` and the command line need nothing set. Production sets SECRET_KEY or
# SECRET_KEY_FILE instead, which win (drillhall/secret_key.py).
# (An assignment, so that set -e stops the set-up if the key cannot be written.)
key_note=$(.venv/bin/python -m drillhall.secret_key)
say "$key_note"

# bcc comes from Debian (python3-bpfcc); the PyPI package named bcc is something else.
# Expose only that one package to the venv, not all of dist-packages.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if [ -d /usr/lib/python3/dist-packages/bcc ]; then
  mkdir -p .venv/debian-bcc
  if [ ! -e .venv/debian-bcc/bcc ]; then
    ln -s /usr/lib/python3/dist-packages/bcc .venv/debian-bcc/bcc
    echo "$PWD/.venv/debian-bcc" > "$site/debian-bcc.pth"
    say "linked Debian's bcc module into .venv"
  fi
fi

# 3. Kernel headers for bcc, and debugfs/tracefs (root only).
kver=$(uname -r)
if [ $IS_ROOT = 1 ]; then
  build=$(ls -d /usr/src/linux-headers-*-cloud-amd64 2>/dev/null | sort -V | tail -1 || true)
  common=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$build" ] && [ -n "$common" ]; then
    mkdir -p "/lib/modules/$kver"
    if [ ! -e "/lib/modules/$kver/build" ]; then
      ln -s "$build" "/lib/modules/$kver/build"; say "linked /lib/modules/$kver/build -> $build"
    fi
    if [ ! -e "/lib/modules/$kver/source" ]; then
      ln -s "$common" "/lib/modules/$kver/source"; say "linked /lib/modules/$kver/source -> $common"
    fi
  fi
  if ! mountpoint -q /sys/kernel/debug; then
    mount -t debugfs none /sys/kernel/debug && say "mounted debugfs" || say "could not mount debugfs"
  fi
  if ! mountpoint -q /sys/kernel/tracing; then
    mount -t tracefs none /sys/kernel/tracing && say "mounted tracefs" || say "could not mount tracefs"
  fi
else
  say "not root: no kernel headers links, no debugfs; eBPF collectors will use the /proc fallback"
fi

# 4. Redis on 127.0.0.1:$DRILLHALL_REDIS_PORT (6379), with its ACL users.
# redis-cli answers (PONG, or NOAUTH once the users are there) whenever a Redis listens.
REDIS_PORT=${DRILLHALL_REDIS_PORT:-6379}
redis_answers() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -qE 'PONG|NOAUTH'; }
if redis_answers; then
  say "Redis: running on 127.0.0.1:$REDIS_PORT"
  redis_up=1
elif command -v redis-server >/dev/null; then
  # Persistent (append-only file, fsync every second): a Redis restart keeps queued runs,
  # the halt flag and the runs' liveness leases. Its users live in an ACL file, which it
  # reads when it starts (empty at first: the step below fills it).
  mkdir -p var/redis
  touch var/redis/users.acl && chmod 600 var/redis/users.acl
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save "" \
    --appendonly yes --appendfsync everysec --aclfile "$PWD/var/redis/users.acl" \
    --dir "$PWD/var/redis" --pidfile "$PWD/var/redis.pid" --logfile "$PWD/var/redis.log"
  for _ in $(seq 50); do redis_answers && break; sleep 0.1; done
  say "Redis: started on 127.0.0.1:$REDIS_PORT, persistent in var/redis (log var/redis.log)"
  redis_up=1
else
  say "MISSING Redis: no redis-server (install redis-server); workers and live pages need it"
  redis_up=0
fi
# Its users (injector/redis_acl.py): default off; admin, drillhall and one per enrolled agent,
# passwords in /var/lib/drillhall/credentials (or DRILLHALL_CREDENTIALS_DIR), 0600: the
# machine's, not the checkout's, as Redis outlives checkouts. Idempotent.
if [ $redis_up = 1 ]; then
  .venv/bin/python -m drills.cli.redis_users --url "redis://127.0.0.1:$REDIS_PORT/0" | sed 's/^/setup: /'
fi

# 5. Front-end assets from the npm registry, built into static/vendor (git-ignored):
#    the run page's chart library (copied) and the playbook editor (frontend/ bundled by esbuild).
stale() {  # stale TARGET SOURCE...: TARGET is missing or older than any SOURCE
  local target=$1; shift
  [ -f "$target" ] || return 0
  local src; for src in "$@"; do [ "$src" -nt "$target" ] && return 0; done
  return 1
}
if ! command -v npm >/dev/null; then
  say "MISSING npm (apt-get install npm): the chart library and the editor cannot be built"
else
  if stale node_modules/.package-lock.json package-lock.json package.json; then
    say "npm ci (chart library, editor)"
    npm ci --silent --no-audit --no-fund >/dev/null
  fi
  mkdir -p static/vendor
  if stale static/vendor/uPlot.iife.min.js package-lock.json; then
    cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css static/vendor/
    say "copied the chart library into static/vendor"
  else
    say "chart library: up to date"
  fi
  if stale static/vendor/editor.bundle.js package-lock.json frontend/*.js; then
    node_modules/.bin/esbuild frontend/editor.js --bundle --minify --format=iife \
      --target=es2020 --log-level=warning --outfile=static/vendor/editor.bundle.js
    say "bundled the editor into static/vendor/editor.bundle.js"
  else
    say "editor bundle: up to date"
  fi
fi
say "done"

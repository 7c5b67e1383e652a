# Shared by scripts/run.sh and scripts/test.sh: idempotent set-up steps.
# Each step is skipped when what it would do is already done, so the two
# commands are fast after the first run and still complete on a fresh machine.

PYTHON=${PYTHON:-python3.11}

ensure_venv() {  # ensure_venv DIR EXTRAS: the gateway's virtualenv with the project installed
  local dir=$1 extras=$2 hash stamp f
  hash=$(sha256sum pyproject.toml | cut -c1-16)
  stamp="$dir/.installed-$hash-$extras"
  if [ ! -x "$dir/bin/python" ]; then
    echo ">> creating $dir with $($PYTHON --version)"
    "$PYTHON" -m venv "$dir"
  fi
  if [ ! -f "$stamp" ]; then
    echo ">> installing the project into $dir ($extras)"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q -e ".[$extras]"
    for f in "$dir"/.installed-*; do case $f in *"$hash"*) ;; *) rm -f "$f" ;; esac; done
    touch "$stamp"
  fi
}

ensure_chromium() {  # Debian's Chromium for the browser tests (Playwright cannot download browsers here)
  if [ -x /usr/bin/chromium ]; then return; fi
  if [ "$(id -u)" != 0 ]; then
    echo "!! /usr/bin/chromium is missing: run 'apt-get install chromium' as root" >&2
    return 1
  fi
  echo ">> installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

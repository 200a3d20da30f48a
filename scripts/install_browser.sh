#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; no
# browser is ever downloaded by a test tool). Idempotent; needs root or password-less sudo.
set -euo pipefail
# A CJK font too, so Chinese names in the HTML scorecard render in screenshots and PDFs (not as boxes).
have_cjk_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh 2>/dev/null)" ]; }
if [ -x /usr/bin/chromium ] && have_cjk_font; then
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO=(sudo -n); else
    echo "install_browser: /usr/bin/chromium or a CJK font is missing and this user cannot apt-get install them;" \
         "the browser tests skip without chromium. As root: apt-get install chromium chromium-driver fonts-wqy-microhei" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-wqy-microhei >/dev/null
/usr/bin/chromium --version

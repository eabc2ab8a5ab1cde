#!/usr/bin/env bash
# The browser suite: starts the suite with `guild up` in a fresh data directory and drives the
# web front end with headless Chromium through Selenium (Tests/Browser/web_suite.py), as a
# person would, in Chinese and in English, with JavaScript on and off. Screenshots of each page
# at 375 px and 1280 px go to $GUILD_SCREENSHOTS (default .build/screenshots).
# Needs Debian's chromium and chromium-driver, and Python with selenium and axe-playwright-python
# (for axe-core 4's script; GUILD_BROWSER_PYTHON, default python3; .ci/run makes a virtual environment),
# and zbarimg (Debian's zbar-tools), which reads the pages' QR codes back.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${GUILD_BROWSER_PYTHON:-python3}
SHOTS=${GUILD_SCREENSHOTS:-$(pwd)/.build/screenshots}
source scripts/guild-up-lib.sh
mkdir -p "$SHOTS"
"$PYTHON" Tests/Browser/web_suite.py --base "$BASE" --screenshots "$SHOTS" \
  || { echo "--- guild up's log (last 60 lines)"; tail -60 "$WORK/up.log"; exit 1; }

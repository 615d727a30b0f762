#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (Playwright drives it through executable_path;
# `playwright install` cannot download its own browser here). Prints the binary's path.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
command -v chromium

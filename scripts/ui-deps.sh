#!/usr/bin/env bash
# Install the browser the UI tests (tests/ui) drive: Debian's chromium, at /usr/bin/chromium.
# Quick no-op when it is already there. Playwright (the Python package) uses this system browser;
# never run `playwright install`, which downloads a browser of its own.
# Set JUPYTER_COMPUTE_SKIP_UI_DEPS=1 to skip this install; JUPYTER_COMPUTE_CHROMIUM names another chromium binary.
set -euo pipefail

chromium=${JUPYTER_COMPUTE_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] && exit 0
[ "${JUPYTER_COMPUTE_SKIP_UI_DEPS:-}" = 1 ] && exit 0

cannot() {
    echo "NOTE: $chromium is missing and could not be installed ($1)." >&2
    echo "      The UI tests in tests/ui need it; as root, run:" >&2
    echo "      apt-get update && apt-get install -y --no-install-recommends chromium" >&2
    echo "      (or set JUPYTER_COMPUTE_CHROMIUM to a Chromium binary). Without it they fail" >&2
    echo "      (never skip), saying how to get it." >&2
    exit 0
}

command -v apt-get >/dev/null || cannot "no apt-get on this machine"
if [ "$(id -u)" = 0 ]; then
    sudo=()
elif command -v sudo >/dev/null; then
    # Ask for a password only when someone is there to type it.
    if [ -t 0 ]; then sudo=(sudo); else sudo=(sudo -n); fi
else
    cannot "not root and no sudo"
fi

echo "Installing Debian's chromium for the UI tests (about 15 s) ..."
run() { ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive "$@"; }
run apt-get update -qq || cannot "apt-get update failed"
run apt-get install -y -qq --no-install-recommends chromium >/dev/null || cannot "apt-get install failed"
[ -x "$chromium" ] || cannot "the chromium package did not provide $chromium"
echo "Installed $("$chromium" --version 2>/dev/null || echo chromium)."

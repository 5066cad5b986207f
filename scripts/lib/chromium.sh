# Headless Chromium for the browser checks (Debian's chromium-headless-shell; installed here
# when missing). Sourced: sets $chromium, or prints SKIPPED and returns 1 when it cannot be had.
chromium=""
ensure_chromium() {
  for c in chromium-headless-shell chromium chrome-headless-shell; do
    if command -v "$c" >/dev/null 2>&1; then chromium=$(command -v "$c"); return 0; fi
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium-headless-shell (Debian package)"
    apt-get update -qq >/dev/null 2>&1 || true
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null 2>&1; then
      chromium=$(command -v chromium-headless-shell)
      return 0
    fi
  fi
  echo "SKIPPED: no headless Chromium (apt-get install chromium-headless-shell)"
  return 1
}
# chromium_dom FILE: the page's DOM after load; chromium_png FILE OUT.png WIDTH,HEIGHT
chromium_dom() { timeout 60 "$chromium" --no-sandbox --disable-gpu --dump-dom "file://$1" 2>/dev/null; }
chromium_png() { timeout 60 "$chromium" --no-sandbox --disable-gpu --hide-scrollbars --window-size="$3" --screenshot="$2" "file://$1" >/dev/null 2>&1; }

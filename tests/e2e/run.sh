#!/usr/bin/env bash
# Browser end-to-end tests of the web client: headless Debian Chromium with a
# fake camera and microphone, driven by playwright-core (which never downloads
# a browser), and Debian's Firefox ESR driven by puppeteer-core over WebDriver
# BiDi (firefox.test.js), against a freshly built server on a free port with a
# fresh data directory. Screenshots of every screen go to tests/e2e/screenshots/.
#
#   tests/e2e/run.sh                 # build the server, run every test
#   CIRCLEKEEPER_BIN=path tests/e2e/run.sh   # use an already built binary
#   tests/e2e/run.sh circle.test.js  # only some test files
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export FIREFOX="${FIREFOX:-/usr/bin/firefox-esr}"

if [[ ! -x "$CHROMIUM" || ! -x "$FIREFOX" ]]; then
  echo "e2e: installing chromium and firefox-esr" >&2
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium firefox-esr
fi

# puppeteer-core drives Firefox; it never downloads a browser, and is told so anyway.
# axe-core audits every screen for accessibility.
if [[ ! -d "$here/node_modules/playwright-core" || ! -d "$here/node_modules/puppeteer-core" \
   || ! -d "$here/node_modules/axe-core" ]]; then
  (cd "$here" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

bin="${CIRCLEKEEPER_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release)
  bin="$root/target/release/circlekeeper"
fi
# The server reads every CIRCLEKEEPER_* variable as a setting: keep ours away from it.
unset CIRCLEKEEPER_BIN

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
data_dir="$(mktemp -d /tmp/ck-e2e-data.XXXXXX)"
log="$data_dir/server.log"
server_pid=""

cleanup() {
  for pid in "$server_pid"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$data_dir"
}
trap cleanup EXIT

# A program API key for tests that make their own rooms (only its SHA-256 is configured).
api_key="e2e-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
api_key_sha="$(printf '%s' "$api_key" | sha256sum | cut -d' ' -f1)"

# The embedded TURN relay on free loopback ports, UDP and TCP on one number,
# TLS on another with a self-signed certificate for 127.0.0.1 (the browser is
# told to accept it): rooms that ask for relay-only media, and a browser whose
# network lets no UDP through, reach the media through it.
mkdir -m 700 "$data_dir/store" "$data_dir/turn"
"$bin" certs --dev --dir "$data_dir/turn" >/dev/null
turn_port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
turns_port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"

# No config file: the shipped defaults, a demo circle, and our own port, store and API key.
# Media workers on free UDP ports (the default engine binds every interface, so
# Firefox, which never pairs with a loopback address, reaches it too).
(cd "$data_dir" && CIRCLEKEEPER_API__KEYS="[{id = \"e2e\", key_sha256 = \"$api_key_sha\"}]" \
  CIRCLEKEEPER_MEDIA__UDP_PORT=0 \
  CIRCLEKEEPER_TURN__ENABLED=true CIRCLEKEEPER_TURN__BIND_IP=127.0.0.1 \
  CIRCLEKEEPER_TURN__UDP_PORT="$turn_port" CIRCLEKEEPER_TURN__TCP_PORT="$turn_port" \
  CIRCLEKEEPER_TURN__TLS_PORT="$turns_port" \
  CIRCLEKEEPER_TURN__CERT_FILE="$data_dir/turn/dev-cert.pem" CIRCLEKEEPER_TURN__KEY_FILE="$data_dir/turn/dev-key.pem" \
  exec "$bin" --data-dir "$data_dir/store" --listen "127.0.0.1:$port") >"$log" 2>&1 &
server_pid=$!

base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
  if curl -fsS "$base/healthz" >/dev/null 2>&1 && grep -q "/join#t=" "$log"; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "e2e: the server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
curl -fsS "$base/healthz" >/dev/null

# The demo prints one line per seat: "keeper      Keeper Kim   http://…/join#t=…".
links_json="$(grep -E '^\s+(keeper|participant)\s' "$log" | node -e '
  const lines = require("fs").readFileSync(0, "utf8").trim().split("\n");
  const links = lines.map((line) => {
    const m = line.match(/^\s*(keeper|participant)\s+(.+?)\s+(https?:\/\/\S+)$/);
    return m && { role: m[1], name: m[2].trim(), link: m[3] };
  }).filter(Boolean);
  process.stdout.write(JSON.stringify(links));
')"
export CK_BASE_URL="$base"
export CK_LINKS="$links_json"
export CK_API_KEY="$api_key"
export CK_TURN_PORT="$turn_port"
export CK_TURNS_PORT="$turns_port"
export CK_SCREENSHOTS="$here/screenshots"
mkdir -p "$CK_SCREENSHOTS"

cd "$here"
if [[ $# -gt 0 ]]; then
  files=("$@")
else
  files=(*.test.js)
fi
status=0
node --test --test-concurrency=1 "${files[@]}" || status=$?
if [[ $status -ne 0 ]]; then
  echo "e2e: server log follows (all of it: $CK_SCREENSHOTS/server.log)" >&2
  tail -n 60 "$log" >&2
  cp "$log" "$CK_SCREENSHOTS/server.log"
fi
exit $status

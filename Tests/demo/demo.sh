#!/bin/bash
# make demo: gocd-proxy-sync doing its job for real, on loopback only.
# Starts a GoCD stand-in, a private NGINX and `gocd-proxy-sync run`, changes the site URL, sends a hostile
# one, and checks at each step that the proxy did what the narration says. KEEP=1 leaves it all running.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
KEEP=${KEEP:-0}

say()  { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
ok()   { printf '    \033[32mok\033[0m  %s\n' "$*"; }
fail() { printf '    \033[31mFAIL\033[0m %s\n' "$*"; exit 1; }

# --- what it needs ------------------------------------------------------------------------------
missing=""
command -v nginx >/dev/null || missing="$missing nginx"
command -v curl >/dev/null || missing="$missing curl"
command -v openssl >/dev/null || missing="$missing openssl"
command -v python3 >/dev/null || missing="$missing python3"
pkg-config --exists libcurl 2>/dev/null || missing="$missing libcurl4-openssl-dev pkg-config"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        say "Installing:$missing"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
    else
        echo "demo: please install:$missing (or run as root)" >&2; exit 1
    fi
fi

say "Building gocd-proxy-sync"
swift build 2>&1 | tail -1
BIN=$ROOT/.build/debug/gocd-proxy-sync

DEMO=$(mktemp -d /tmp/gocd-proxy-sync-demo.XXXXXX)
PIDS=()
cleanup() {
    if [ "$KEEP" = 1 ]; then return; fi
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$DEMO"
}
trap cleanup EXIT

# Five distinct free ports in one go. Each is bound (and held) until all are chosen, so no two are the same; all
# lie outside the kernel's ephemeral range (ip_local_port_range), which every outgoing connection and bind(0) on
# this host draws from, so no connection of nginx, curl or another test can take one between now and its use.
# (Five separate bind(0)-and-close calls, as before, once gave two steps the same port in 14 runs.)
ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
low, high = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
pool = list(range(10000, low)) if low - 10000 >= 1000 else list(range(high + 1, 65536))
random.shuffle(pool)
held = []
for port in pool:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    held.append(s)
    if len(held) == int(sys.argv[1]):
        break
if len(held) < int(sys.argv[1]):
    sys.exit("demo: not enough free ports outside the ephemeral range")
print(" ".join(str(s.getsockname()[1]) for s in held))
PY
}
wait_until() { # seconds, command...
    local limit=$1; shift
    for _ in $(seq $((limit * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

read -r GOCD_PORT HTTP_PORT HTTPS_PORT NEW_PORT STATUS_PORT <<<"$(ports 5)"
[ -n "$STATUS_PORT" ] || fail "could not choose five free ports"
TOKEN=demo0000TOKEN1111222233334444555566667777

say "Starting a GoCD stand-in on 127.0.0.1:$GOCD_PORT (site_url=http://gocd.demo:$HTTP_PORT, secure_site_url=https://gocd.demo:$HTTPS_PORT)"
python3 Tests/standin/gocd_standin.py --port "$GOCD_PORT" --token "$TOKEN" \
    --site-url "http://gocd.demo:$HTTP_PORT" --secure-site-url "https://gocd.demo:$HTTPS_PORT" >"$DEMO/standin.log" 2>&1 &
PIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$GOCD_PORT/_control" || fail "the stand-in did not start"
ok "GoCD stand-in is up"

say "Starting a private NGINX (prefix $DEMO/nginx, include directory conf.d/)"
mkdir -p "$DEMO/nginx/conf.d" "$DEMO/nginx/logs" "$DEMO/nginx/tmp" "$DEMO/tls" "$DEMO/state"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=gocd.demo" -keyout "$DEMO/tls/key.pem" \
    -out "$DEMO/tls/cert.pem" -addext "subjectAltName=DNS:gocd.demo,DNS:ci.demo" \
    -addext "basicConstraints=critical,CA:FALSE" >/dev/null 2>&1
cat >"$DEMO/nginx/nginx.conf" <<NGINX
user root;
worker_processes 1;
pid $DEMO/nginx/nginx.pid;
error_log $DEMO/nginx/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $DEMO/nginx/tmp/body;
    proxy_temp_path $DEMO/nginx/tmp/proxy;
    fastcgi_temp_path $DEMO/nginx/tmp/fastcgi;
    uwsgi_temp_path $DEMO/nginx/tmp/uwsgi;
    scgi_temp_path $DEMO/nginx/tmp/scgi;
    server { listen 127.0.0.1:$STATUS_PORT; location / { return 200 "alive"; } }
    include $DEMO/nginx/conf.d/*.conf;
}
NGINX
NGINX_ARGS="-p $DEMO/nginx -c $DEMO/nginx/nginx.conf"
nginx $NGINX_ARGS -g 'daemon off;' &
PIDS+=($!)
wait_until 10 curl -sf "http://127.0.0.1:$STATUS_PORT/" || fail "nginx did not start"
ok "nginx is up with an empty include directory"

printf '%s\n' "$TOKEN" >"$DEMO/token"; chmod 600 "$DEMO/token"
cat >"$DEMO/config.toml" <<TOML
[gocd]
server_url = "http://127.0.0.1:$GOCD_PORT/go"
token_file = "$DEMO/token"
timeout_seconds = 5

[proxy]
kind = "nginx"
output = "$DEMO/nginx/conf.d/gocd.conf"
upstream = "http://127.0.0.1:$GOCD_PORT"
listen_address = "127.0.0.1"
tls_certificate = "$DEMO/tls/cert.pem"
tls_certificate_key = "$DEMO/tls/key.pem"
test_command = ["nginx", "-p", "$DEMO/nginx", "-c", "$DEMO/nginx/nginx.conf", "-t", "-q"]
reload_command = ["nginx", "-p", "$DEMO/nginx", "-c", "$DEMO/nginx/nginx.conf", "-s", "reload"]

[sync]
interval_seconds = 1
state_dir = "$DEMO/state"
max_backoff_seconds = 5
TOML

say "Starting: gocd-proxy-sync run --config $DEMO/config.toml (interval 1 s)"
"$BIN" run --config "$DEMO/config.toml" 2>"$DEMO/daemon.log" &
DAEMON=$!
PIDS+=($DAEMON)
wait_until 15 grep -q "reloaded:" "$DEMO/daemon.log" || { cat "$DEMO/daemon.log"; fail "no initial apply"; }
grep -E "started:|applied:|reloaded:" "$DEMO/daemon.log" | sed 's/^/    log | /'
ok "initial apply: $(sed -n 2p "$DEMO/nginx/conf.d/gocd.conf")"

say "A request through the proxy: https://gocd.demo:$HTTPS_PORT/go/pipelines"
BODY=$(curl -sk --resolve "gocd.demo:$HTTPS_PORT:127.0.0.1" "https://gocd.demo:$HTTPS_PORT/go/pipelines")
echo "$BODY" | python3 -c 'import json,sys; h=json.load(sys.stdin)["headers"]; print("    GoCD saw Host=%s X-Forwarded-Proto=%s" % (h["Host"], h["X-Forwarded-Proto"]))'
echo "$BODY" | grep -q "\"Host\": \"gocd.demo:$HTTPS_PORT\"" || fail "Host was not preserved"
echo "$BODY" | grep -q '"X-Forwarded-Proto": "https"' || fail "X-Forwarded-Proto is not https"
ok "GoCD sees the public host, port and scheme"
LOCATION=$(curl -s -o /dev/null -w '%{redirect_url}' --resolve "gocd.demo:$HTTP_PORT:127.0.0.1" "http://gocd.demo:$HTTP_PORT/go/agents")
[ "$LOCATION" = "https://gocd.demo:$HTTPS_PORT/go/agents" ] || fail "HTTP did not redirect to the secure origin ($LOCATION)"
ok "http://gocd.demo:$HTTP_PORT answers 301 → $LOCATION"

say "An admin changes GoCD's secure site URL to https://ci.demo:$NEW_PORT"
curl -sf -XPOST -d "{\"secure_site_url\": \"https://ci.demo:$NEW_PORT/go\"}" "http://127.0.0.1:$GOCD_PORT/_control" >/dev/null
wait_until 15 curl -skf --resolve "ci.demo:$NEW_PORT:127.0.0.1" "https://ci.demo:$NEW_PORT/go/" || { cat "$DEMO/daemon.log"; fail "the proxy did not follow the change"; }
grep -E "applied:|reloaded:" "$DEMO/daemon.log" | tail -2 | sed 's/^/    log | /'
grep -q "server_name gocd.demo → ci.demo; https port $HTTPS_PORT → $NEW_PORT" "$DEMO/daemon.log" || fail "the semantic diff is missing from the log"
ok "the log names the change, and nginx now answers on https://ci.demo:$NEW_PORT"

say "Someone sets a hostile site URL in GoCD: 'http://x;include /etc/shadow;'"
BEFORE=$(sha256sum "$DEMO/nginx/conf.d/gocd.conf")
curl -sf -XPOST -d '{"site_url": "http://x;include /etc/shadow;"}' "http://127.0.0.1:$GOCD_PORT/_control" >/dev/null
wait_until 15 grep -q "rejected:" "$DEMO/daemon.log" || fail "no rejection logged"
grep "rejected:" "$DEMO/daemon.log" | head -1 | sed 's/^/    log | /'
[ "$(sha256sum "$DEMO/nginx/conf.d/gocd.conf")" = "$BEFORE" ] || fail "the file changed"
curl -skf --resolve "ci.demo:$NEW_PORT:127.0.0.1" "https://ci.demo:$NEW_PORT/go/" >/dev/null || fail "the proxy stopped serving"
ok "refused: the file is byte-identical and the proxy keeps serving"

STATUS=$("$BIN" status --config "$DEMO/config.toml")
printf '%s\n' "$STATUS" | sed 's/^/    status | /'
printf '%s\n' "$STATUS" | grep -q "^daemon: *running (pid $DAEMON," || fail "status does not see the running daemon"
ok "status sees the running daemon"

if [ "$KEEP" = 1 ]; then
    say "Left running (KEEP=1). Try:"
    cat <<POKE
    curl -sk --resolve ci.demo:$NEW_PORT:127.0.0.1 https://ci.demo:$NEW_PORT/go/pipelines
    curl -s -XPOST -d '{"site_url": "http://gocd.demo:$HTTP_PORT"}' http://127.0.0.1:$GOCD_PORT/_control
    tail -f $DEMO/daemon.log
    $BIN status --config $DEMO/config.toml
    cat $DEMO/nginx/conf.d/gocd.conf
  Stop it all with: kill ${PIDS[*]}; rm -rf $DEMO
POKE
    exit 0
fi

say "Stopping everything it started (SIGTERM to the daemon: exits 0)"
kill -TERM "$DAEMON"
wait "$DAEMON" && ok "gocd-proxy-sync exited 0" || fail "gocd-proxy-sync did not exit 0"

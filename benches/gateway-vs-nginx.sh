#!/usr/bin/env bash
# The gateway's allow path against a plain nginx reverse proxy, side by side in one run.
#
#   benches/gateway-vs-nginx.sh [SECONDS] [CONNECTIONS]      (defaults: 10 s, 32 connections)
#
# Starts, all on 127.0.0.1:
#   - an nginx stand-in upstream answering a fixed chat completion (:19001),
#   - a plain nginx reverse proxy in front of it (:19002, keep-alive to the upstream),
#   - `raigate serve` (release build) in front of the same upstream, once with
#     `durability = "async"` (:19003) and once with `durability = "sync"` (:19005),
# then runs wrk with the same settings against each (POST /v1/chat/completions with a chat body,
# tenant `acme`, the allow path with every check and the JSON label) and prints req/s, p50 and
# the ratios to nginx. Needs nginx and wrk (Debian: `apt-get install nginx-light wrk`).
# Numbers go to BENCHMARKS.md as ratios: the machines are shared and noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
threads=2

for tool in nginx wrk; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$tool is not installed (apt-get install nginx-light wrk)" >&2; exit 1; }
done

cargo build --release --locked --quiet --bin raigate
bin=target/release/raigate

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  nginx -p "$work" -c "$work/nginx.conf" -s stop 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

answer='{"id":"chatcmpl-bench","object":"chat.completion","created":1767225600,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}'

mkdir -p "$work/logs"
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
error_log $work/logs/error.log crit;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  upstream ai { server 127.0.0.1:19001; keepalive 64; }
  server {
    listen 127.0.0.1:19001;
    location / { default_type application/json; return 200 '$answer'; }
  }
  server {
    listen 127.0.0.1:19002;
    location / {
      proxy_pass http://ai;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
nginx -p "$work" -c "$work/nginx.conf"

gateway() { # gateway PORT DURABILITY
  local port=$1 durability=$2 dir="$work/gw-$1"
  mkdir -p "$dir"
  cat > "$dir/gateway.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
admin_listen = "127.0.0.1:$((port + 1))"
region = "eu-central-1"

[policies]
dir = "$PWD/policies"

[store]
url = "sqlite://$dir/raigate.db"

[trace]
path = "$dir/decisions.jsonl"
durability = "$durability"

[[tenant]]
id = "acme"

[[upstream]]
name = "ai-eu"
url = "http://127.0.0.1:19001"
region = "eu-central-1"

[[route]]
method = "POST"
path = "/v1/chat/completions"
feature = "assistant"
EOF
  RUST_LOG=warn "$bin" serve --config "$dir/gateway.toml" > "$dir/log" 2>&1 &
  pids+=($!)
}
gateway 19003 async
gateway 19005 sync

cat > "$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
wrk.headers["x-tenant-id"] = "acme"
wrk.body = '{"model":"bench-model","messages":[{"role":"user","content":"Summarise the meeting notes from Tuesday in three bullet points."}]}'
EOF

wait_for() {
  for _ in $(seq 1 100); do
    if curl -s -o /dev/null -X POST -H 'content-type: application/json' -H 'x-tenant-id: acme' \
        -d '{"messages":[{"role":"user","content":"hi"}]}' "http://127.0.0.1:$1/v1/chat/completions"; then
      return 0
    fi
    sleep 0.2
  done
  echo "nothing answers on :$1" >&2
  exit 1
}
for port in 19001 19002 19003 19005; do wait_for "$port"; done
for port in 19003 19005; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'content-type: application/json' \
    -H 'x-tenant-id: acme' -d '{"messages":[{"role":"user","content":"hi"}]}' \
    "http://127.0.0.1:$port/v1/chat/completions")
  [ "$code" = 200 ] || { echo "raigate on :$port answered $code, not 200" >&2; cat "$work/gw-$port/log" >&2; exit 1; }
done

declare -A rps p50
run() { # run NAME PORT
  local out
  wrk -t"$threads" -c"$conns" -d2s -s "$work/post.lua" "http://127.0.0.1:$2/v1/chat/completions" >/dev/null # warm-up
  out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" "http://127.0.0.1:$2/v1/chat/completions")
  if echo "$out" | grep -q "Non-2xx"; then
    echo "$1: non-2xx answers during the run:" >&2
    echo "$out" >&2
    exit 1
  fi
  rps[$1]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50[$1]=$(echo "$out" | awk '$1 == "50%" {print $2}')
}
run upstream 19001
run nginx 19002
run raigate-async 19003
run raigate-sync 19005

printf '%-28s %12s %10s %10s\n' target req/s p50 "x nginx"
for name in upstream nginx raigate-async raigate-sync; do
  ratio=$(awk -v a="${rps[$name]}" -v b="${rps[nginx]}" 'BEGIN { printf "%.2f", a / b }')
  printf '%-28s %12s %10s %10s\n' "$name" "${rps[$name]}" "${p50[$name]}" "$ratio"
done
echo "wrk -t$threads -c$conns -d${secs}s; $(nproc) cores; $(date -u +%FT%TZ)"

#!/usr/bin/env bash
# Regenerates notary-0.7/: metadata written by the real notary 0.7 CLI against a real
# notary-server 0.7 (memory storage, plain HTTP on loopback): init + add + publish, a
# targets/releases delegation (x509 cert key, --all-paths) with one delegated target.
# The files are the client's cached copies, byte for byte as the server served them.
set -euo pipefail
cd "$(dirname "$0")"
WORK="$(mktemp -d)"
trap 'kill $PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat > "$WORK/server.json" <<JSON
{ "server": { "http_addr": "127.0.0.1:$PORT" }, "trust_service": { "type": "local", "key_algorithm": "ecdsa" },
  "storage": { "backend": "memory" }, "logging": { "level": "error" } }
JSON
notary-server -config "$WORK/server.json" >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/_notary_server/health" >/dev/null && break; sleep 0.1; done
export NOTARY_ROOT_PASSPHRASE=fixture NOTARY_TARGETS_PASSPHRASE=fixture NOTARY_SNAPSHOT_PASSPHRASE=fixture NOTARY_DELEGATION_PASSPHRASE=fixture
N=(notary -d "$WORK/trust" -s "http://127.0.0.1:$PORT")
GUN=example.com/fixture
echo "fixture target" > "$WORK/t1"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/deleg.key" -out "$WORK/deleg.crt" \
  -days 3650 -subj "/CN=releases" 2>/dev/null
"${N[@]}" init "$GUN" >/dev/null
"${N[@]}" add "$GUN" v1 "$WORK/t1" >/dev/null
"${N[@]}" delegation add "$GUN" targets/releases "$WORK/deleg.crt" --all-paths >/dev/null
"${N[@]}" publish "$GUN" >/dev/null
"${N[@]}" key import "$WORK/deleg.key" --role targets/releases >/dev/null
"${N[@]}" add "$GUN" v2 "$WORK/t1" --roles targets/releases >/dev/null
"${N[@]}" publish "$GUN" >/dev/null
"${N[@]}" list "$GUN" >/dev/null
rm -rf notary-0.7 && mkdir -p notary-0.7/targets
for f in root targets snapshot timestamp targets/releases; do
  cp "$WORK/trust/tuf/$GUN/metadata/$f.json" "notary-0.7/$f.json"
done
cp "$WORK/deleg.crt" notary-0.7/releases.crt

#!/usr/bin/env bash
# Build the release binary exactly as the Dockerfile's build stage does, then check it.
#
#   scripts/build-release.sh                    # VERSION from git describe, COMMIT from git
#   VERSION=1.2.0 COMMIT=abc123 scripts/build-release.sh
#   GOOS=linux GOARCH=arm64 scripts/build-release.sh   # cross-build: the smoke run is skipped
#
# Produces dist/depportal (built with -tags nosandbox: the release holds no sandbox tenant,
# docs/decisions/0008), then: no sandbox module inside, static-linking check, size and
# image-size estimate, `depportal --version`, a start without ENTRA_* that must refuse, and a
# smoke run in tenant mode on a free loopback port (/healthz, /readyz, `depportal healthcheck`,
# SIGTERM shutdown). Exits non-zero on any failure.
#
# The `go build` line below and the Dockerfile's must stay identical (environment, flags,
# ldflags); deploy/deploy_test.go compares them. Change both together.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'build-release: FAILED: %s\n' "$*" >&2; exit 1; }

# The size of gcr.io/distroless/static-debian12, the image's base: "around 2 MiB", as the
# distroless project's README gives it for its smallest image (static). Used for the estimate.
readonly DISTROLESS_STATIC_BYTES=$((2 * 1024 * 1024))

step "version"
if [ -z "${VERSION:-}" ]; then
  VERSION=dev
  if git rev-parse --git-dir >/dev/null 2>&1; then
    VERSION=$(git describe --tags --always 2>/dev/null || echo dev)
    # The same as --dirty (tracked files only), without writing the index: read-only git.
    if [ -n "$(GIT_OPTIONAL_LOCKS=0 git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
      VERSION="$VERSION-dirty"
    fi
  fi
fi
if [ -z "${COMMIT:-}" ]; then
  COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
fi
# Both end up inside -ldflags "…": no spaces or quotes.
[[ "$VERSION" =~ ^[A-Za-z0-9._+-]+$ ]] || fail "VERSION '$VERSION' may hold only letters, digits and . _ + -"
[[ "$COMMIT" =~ ^[A-Za-z0-9._+-]+$ ]] || fail "COMMIT '$COMMIT' may hold only letters, digits and . _ + -"
echo "VERSION=$VERSION"
echo "COMMIT=$COMMIT"

step "toolchain"
go version
goversion=$(go env GOVERSION)
case "$goversion" in
  go1.26*) ;;
  *) echo "warning: $goversion is not the Dockerfile's Go 1.26 (golang:1.26-bookworm); the binary will differ" >&2 ;;
esac
hostos=$(go env GOHOSTOS)
hostarch=$(go env GOHOSTARCH)
TARGETOS=${GOOS:-$hostos}
TARGETARCH=${GOARCH:-$hostarch}
echo "target $TARGETOS/$TARGETARCH"

step "go mod download"
go mod download && go mod verify

step "go build -> dist/depportal"
rm -rf dist
mkdir -p dist
CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -tags nosandbox -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o dist/depportal .
bin=dist/depportal
[ -x "$bin" ] || fail "$bin was not produced"

step "no sandbox inside"
if go version -m "$bin" | grep -E 'zitadel|go-chi|rs/cors|gorilla/securecookie'; then
  fail "$bin links the sandbox's modules (listed above): build it with -tags nosandbox"
fi
echo "go version -m lists none of the sandbox's modules (zitadel, go-chi, rs/cors, securecookie)"

step "static linking"
if ! command -v file >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing 'file' (Debian package)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq file >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq file >/dev/null 2>&1; } ||
    echo "could not install 'file'; falling back to ldd"
fi
if command -v file >/dev/null 2>&1; then
  description=$(file -b "$bin")
  echo "file: $description"
  case "$description" in
    *"statically linked"*) ;;
    *) fail "$bin is not statically linked (distroless static has no libc)" ;;
  esac
elif command -v ldd >/dev/null 2>&1; then
  lddout=$(ldd "$bin" 2>&1 || true)
  echo "ldd: $lddout"
  case "$lddout" in
    *"not a dynamic executable"*|*"statically linked"*) ;;
    *) fail "$bin is not statically linked (distroless static has no libc)" ;;
  esac
else
  fail "neither 'file' nor 'ldd' is available to check static linking"
fi

step "size"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
size=$(stat -c %s "$bin")
gzsize=$(gzip -9 -c "$bin" | wc -c)
estimate=$((size + DISTROLESS_STATIC_BYTES))
echo "binary:            $size bytes ($(mib "$size"))"
echo "binary, gzip -9:   $gzsize bytes ($(mib "$gzsize")) ~ its compressed image layer"
echo "image estimate:    $estimate bytes ($(mib "$estimate")) = binary + distroless static base"
echo "                   ($(mib "$DISTROLESS_STATIC_BYTES"), the distroless README's figure for its smallest image)"

if [ "$TARGETOS/$TARGETARCH" != "$hostos/$hostarch" ]; then
  step "smoke checks skipped: $TARGETOS/$TARGETARCH binary on a $hostos/$hostarch host"
  exit 0
fi

step "depportal --version"
got=$("$bin" --version) || fail "'$bin --version' exited non-zero"
echo "$got"
want="depportal $VERSION (commit $COMMIT, go1.26"
case "$got" in
  "$want"*) ;;
  *) fail "'$bin --version' printed '$got', want it to start with '$want'" ;;
esac

step "smoke run: refused without a tenant, then tenant mode"
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# is_free PORT: nothing accepts connections on 127.0.0.1:PORT.
is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=""
for _ in $(seq 1 50); do
  candidate=$((20000 + RANDOM % 12000)) # below the ephemeral range
  if is_free "$candidate"; then port=$candidate; break; fi
done
[ -n "$port" ] || fail "found no free port on 127.0.0.1"
listen="127.0.0.1:$port"

# http_status PATH: the status code of GET http://$listen/PATH, or nothing. No curl needed.
http_status() {
  local line=""
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 0
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "$listen" >&3
  IFS=' ' read -r -t 5 _ line _ <&3 || true
  exec 3<&- 3>&-
  printf '%s' "$line"
}

show_log() { echo "--- server output ---" >&2; cat "$tmp/server.log" >&2 || true; echo "---" >&2; }

# Without ENTRA_* the release build must refuse to start, saying why.
if refusal=$(env -u ENTRA_TENANT_ID -u ENTRA_CLIENT_ID -u ENTRA_CLIENT_SECRET -u ENTRA_CLIENT_CERTIFICATE \
  DEPPORTAL_LISTEN="$listen" DEPPORTAL_DATA_DIR="$tmp/refused" "$bin" 2>&1); then
  fail "the release build started without ENTRA_* variables"
fi
case "$refusal" in
  *"has no sandbox tenant"*) echo "without ENTRA_*: refused, as it should ($refusal)" | cut -c1-160 ;;
  *) fail "the release build refused to start without saying why: $refusal" ;;
esac

# Tenant mode with a tenant that cannot be reached: the portal serves, /readyz says it cannot
# sign anyone in yet, and it shuts down cleanly.
session_key=$(head -c 32 /dev/urandom | base64)
audit_key=$("$bin" audit keygen 2>/dev/null | sed -n 's/^DEPPORTAL_AUDIT_SIGNING_KEY=//p')
[ -n "$audit_key" ] || fail "'depportal audit keygen' printed no DEPPORTAL_AUDIT_SIGNING_KEY line"
env -u ENTRA_CLIENT_CERTIFICATE -u DEPPORTAL_DATABASE_URL \
  ENTRA_TENANT_ID=00000000-0000-4000-8000-000000000001 ENTRA_CLIENT_ID=00000000-0000-4000-8000-000000000002 \
  ENTRA_CLIENT_SECRET=smoke-test-secret ENTRA_AUTHORITY_HOST=https://127.0.0.1:9 \
  DEPPORTAL_PUBLIC_URL="http://localhost:$port" DEPPORTAL_SESSION_KEY="$session_key" \
  DEPPORTAL_AUDIT_SIGNING_KEY="$audit_key" DEPPORTAL_LISTEN="$listen" DEPPORTAL_DATA_DIR="$tmp/data" \
  "$bin" >"$tmp/server.log" 2>&1 &
server_pid=$!
echo "started pid $server_pid on $listen, data in $tmp/data"

# wait_for PATH SECONDS: until GET PATH answers 200.
wait_for() {
  local deadline=$((SECONDS + $2)) status
  while :; do
    kill -0 "$server_pid" 2>/dev/null || { show_log; fail "the server exited before $1 answered 200"; }
    status=$(http_status "$1" 2>/dev/null || true)
    if [ "$status" = 200 ]; then echo "$1: 200"; return 0; fi
    [ "$SECONDS" -lt "$deadline" ] || { show_log; fail "$1 did not answer 200 within $2 s (last: '${status:-no answer}')"; }
    sleep 0.2
  done
}
wait_for /healthz 30
readyz=$(http_status /readyz 2>/dev/null || true)
[ "$readyz" = 503 ] || { show_log; fail "/readyz answered '$readyz' with an unreachable tenant, want 503"; }
echo "/readyz: 503 (the tenant cannot be reached), as it should"

echo "depportal healthcheck:"
DEPPORTAL_LISTEN="$listen" "$bin" healthcheck || { show_log; fail "'depportal healthcheck' exited non-zero against a running portal"; }

echo "stopping (SIGTERM)"
kill -TERM "$server_pid"
deadline=$((SECONDS + 20))
while kill -0 "$server_pid" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || { show_log; fail "the server did not stop within 20 s of SIGTERM"; }
  sleep 0.1
done
status=0
wait "$server_pid" || status=$?
server_pid=""
[ "$status" = 0 ] || { show_log; fail "the server exited with status $status after SIGTERM, want 0"; }
echo "stopped cleanly"

if DEPPORTAL_LISTEN="$listen" "$bin" healthcheck >/dev/null 2>&1; then
  fail "'depportal healthcheck' passed with the portal stopped"
fi
echo "healthcheck fails once stopped, as it should"

step "ok: $bin $VERSION ($size bytes, image ~$(mib "$estimate"))"

#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests of the PostgreSQL store; no server is assumed.
#
#   bash scripts/postgres.sh start   # prints `export URSA_TEST_PG_…=…` lines (eval them) and
#                                    # writes them to target/ursa-test-pg.env
#   bash scripts/postgres.sh stop    # stops it and deletes its data
#
# start installs Debian's `postgresql` when no `initdb` is found (on PATH, then under
# /usr/lib/postgresql/*/bin), initdbs a temporary data directory owned by the `postgres` user
# when run as root (PostgreSQL refuses to run as root), and starts the server on a free
# loopback port: listen_addresses=127.0.0.1, fsync on, a password-authenticated superuser,
# and TLS (a throwaway CA, a server certificate for `localhost`, client-certificate login for
# the role `ursa_cert`). Progress goes to stderr; only the exports go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

ENV_FILE="$PWD/target/ursa-test-pg.env"
log() { echo "postgres.sh: $*" >&2; }

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

find_bindir() {
  local initdb
  if initdb=$(command -v initdb 2>/dev/null); then
    dirname "$initdb"
    return
  fi
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then
      echo "$d"
      return
    fi
  done
  return 1
}

install_postgres() {
  if [ "$(id -u)" != 0 ]; then
    log "initdb not found and not root: install PostgreSQL (Debian: apt-get install postgresql)"
    exit 1
  fi
  log "installing PostgreSQL (apt-get install postgresql)"
  apt-get update >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
}

ensure_tools() {
  if ! BIN=$(find_bindir); then
    install_postgres
    BIN=$(find_bindir) || { log "initdb still not found after installing postgresql"; exit 1; }
  fi
  if ! command -v openssl >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      log "installing openssl (for the test certificates)"
      apt-get update >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y openssl >&2
    else
      log "openssl is required for the test certificates"
      exit 1
    fi
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin postgres
  fi
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

make_certs() {
  local dir=$1
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=ursa-test-ca" \
      -keyout ca.key -out ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    # The server certificate names `localhost` only, not 127.0.0.1: verifyFull to `localhost`
    # passes, verifyFull to `127.0.0.1` fails, verifyCa to `127.0.0.1` passes.
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.crt
    openssl req -newkey rsa:2048 -nodes -subj "/CN=ursa_cert" -keyout client.key -out client.csr
    printf 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile client.ext -out client.crt
    # An unrelated CA, for the test that a wrong CA is refused.
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=other-ca" \
      -keyout other-ca.key -out other-ca.crt \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    rm -f ./*.csr ./*.ext ./*.srl
  ) >/dev/null 2>&1
}

start() {
  if [ -f "$ENV_FILE" ]; then
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    if [ -n "${URSA_TEST_PG_DATA:-}" ] && [ -f "$URSA_TEST_PG_DATA/postmaster.pid" ]; then
      log "already running on 127.0.0.1:$URSA_TEST_PG_PORT"
      cat "$ENV_FILE"
      return
    fi
  fi
  ensure_tools
  local root data certs password port
  root=$(mktemp -d "${TMPDIR:-/tmp}/ursa-test-pg.XXXXXX")
  chmod 755 "$root"
  data="$root/data"
  certs="$root/certs"
  mkdir -p "$certs"
  make_certs "$certs"
  password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" >"$root/pwfile"
  chmod 600 "$certs"/*.key
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$root"
  fi
  as_owner "$BIN/initdb" -D "$data" -U ursa --pwfile="$root/pwfile" -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >"$root/initdb.log" 2>&1 ||
    { cat "$root/initdb.log" >&2; exit 1; }
  rm -f "$root/pwfile"
  cat >"$data/pg_hba.conf" <<EOF
local   all  all                     trust
hostssl all  ursa_cert  127.0.0.1/32 cert
host    all  all        127.0.0.1/32 scram-sha-256
EOF
  local started=""
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    port_free "$port" || continue
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$root'
fsync = on
synchronous_commit = on
max_connections = 300
ssl = on
ssl_cert_file = '$certs/server.crt'
ssl_key_file = '$certs/server.key'
ssl_ca_file = '$certs/ca.crt'
EOF
    if as_owner "$BIN/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 start >/dev/null 2>&1; then
      started=1
      break
    fi
    log "could not start on port $port; trying another"
  done
  if [ -z "$started" ]; then
    cat "$root/server.log" >&2 || true
    exit 1
  fi
  local psql="$BIN/psql"
  [ -x "$psql" ] || psql=psql
  as_owner "$psql" -q -h "$root" -p "$port" -U ursa -d postgres \
    -c "CREATE ROLE ursa_cert LOGIN CREATEDB" >/dev/null
  mkdir -p "$(dirname "$ENV_FILE")"
  cat >"$ENV_FILE" <<EOF
export URSA_TEST_PG_HOST=127.0.0.1
export URSA_TEST_PG_PORT=$port
export URSA_TEST_PG_USER=ursa
export URSA_TEST_PG_PASSWORD=$password
export URSA_TEST_PG_CERTS=$certs
export URSA_TEST_PG_DATA=$data
export URSA_TEST_PG_BIN=$BIN
EOF
  log "PostgreSQL running on 127.0.0.1:$port (data $data); settings in $ENV_FILE"
  cat "$ENV_FILE"
}

stop() {
  if [ ! -f "$ENV_FILE" ]; then
    log "not running"
    return
  fi
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  if [ -f "$URSA_TEST_PG_DATA/postmaster.pid" ]; then
    as_owner "$URSA_TEST_PG_BIN/pg_ctl" -D "$URSA_TEST_PG_DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$(dirname "$URSA_TEST_PG_DATA")"
  rm -f "$ENV_FILE"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

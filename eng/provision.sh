#!/usr/bin/env bash
# Makes PostgreSQL 15, Redis 7 (one server, and a Cluster of three primaries with a replica each)
# and RabbitMQ 3.10 available on loopback for Idem's tests, installs Chromium for the browser tests,
# then writes artifacts/test-services.env with the connection settings.
#
# Idempotent: a service that already answers on its port is reused as is; nothing a developer
# has running is stopped or reconfigured. Installs missing Debian packages when run as root.
# Daemons never inherit this script's stdout/stderr (their output goes to log files), so a
# caller capturing our output does not hang.
#
# Environment knobs: IDEM_PROVISION_TIMEOUT (seconds per wait, default 120).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARTIFACTS="$ROOT/artifacts"
LOGDIR="$ARTIFACTS/services"
ENV_FILE="$ARTIFACTS/test-services.env"

PG_PORT=5432
PG_USER=idem
PG_PASSWORD=idem
PG_DB=idem_test
REDIS_PORT=6379
RABBIT_PORT=5672
WAIT_TIMEOUT="${IDEM_PROVISION_TIMEOUT:-120}"

SUMMARY=()

log() { printf '[provision] %s\n' "$*"; }
warn() { printf '[provision] WARNING: %s\n' "$*" >&2; }
die() { printf '[provision] ERROR: %s\n' "$*" >&2; exit 1; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# Microseconds since the epoch (locale-proof: strips '.' or ',').
now_us() { local t="$EPOCHREALTIME"; echo "${t//[.,]/}"; }

# step NAME FUNCTION: runs FUNCTION and prints how long it took.
step() {
  local name="$1" t0 t1
  shift
  log "== $name"
  t0="$(now_us)"
  "$@"
  t1="$(now_us)"
  log "== $name done in $(( (t1 - t0) / 1000000 )).$(printf '%03d' $(( (t1 - t0) / 1000 % 1000 )))s"
}

# Succeeds when something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# wait_until DESCRIPTION "LOGFILES..." COMMAND...: polls COMMAND for up to WAIT_TIMEOUT seconds;
# on timeout prints the tail of each existing log file and fails.
wait_until() {
  local what="$1" logs="$2" deadline f
  shift 2
  deadline=$(( SECONDS + WAIT_TIMEOUT ))
  until "$@" >/dev/null 2>&1; do
    if (( SECONDS >= deadline )); then
      warn "timed out after ${WAIT_TIMEOUT}s waiting for $what"
      for f in $logs; do
        if [ -r "$f" ]; then
          printf -- '----- last lines of %s -----\n' "$f" >&2
          tail -n 40 "$f" >&2 || true
        fi
      done
      die "$what did not come up"
    fi
    sleep 1
  done
}

pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    -o DPkg::Lock::Timeout=300 \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$@" </dev/null >>"$LOGDIR/apt.log" 2>&1
}

# ensure_packages PKG...: installs the missing ones (root only).
ensure_packages() {
  local p missing=()
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if ! is_root; then
    die "missing Debian packages: ${missing[*]}. Install them (sudo apt-get install -y --no-install-recommends ${missing[*]}) or run this script as root."
  fi
  log "installing ${missing[*]} (log: $LOGDIR/apt.log)"
  if ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
    apt-get update </dev/null >>"$LOGDIR/apt.log" 2>&1 || true
  fi
  if ! apt_install "${missing[@]}"; then
    log "install failed; running apt-get update and retrying"
    if ! { apt-get update </dev/null >>"$LOGDIR/apt.log" 2>&1 && apt_install "${missing[@]}"; }; then
      tail -n 30 "$LOGDIR/apt.log" >&2 || true
      die "could not install ${missing[*]}"
    fi
  fi
}

# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------
PG_VER=""
PG_NAME=""

pg_ready() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; }

pg_test_login() {
  PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5 psql -X -q -At -h 127.0.0.1 -p "$PG_PORT" \
    -U "$PG_USER" -d "$PG_DB" -c 'select 1' </dev/null
}

# psql as the postgres superuser over the Unix socket (peer authentication).
pg_admin() {
  if [ "$(id -un)" = postgres ]; then
    (cd / && psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@")
  elif is_root; then
    (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@")
  else
    die "creating the PostgreSQL role/database needs root or the postgres user"
  fi
}

pg_log_file() { echo "/var/log/postgresql/postgresql-$PG_VER-$PG_NAME.log"; }

pg_start_cluster() {
  pg_ctlcluster "$PG_VER" "$PG_NAME" start </dev/null >>"$LOGDIR/postgres-start.log" 2>&1 \
    || service postgresql start </dev/null >>"$LOGDIR/postgres-start.log" 2>&1 \
    || true
  wait_until "PostgreSQL $PG_VER/$PG_NAME on 127.0.0.1:$PG_PORT" \
    "$LOGDIR/postgres-start.log $(pg_log_file)" pg_ready
}

provision_postgres() {
  local action=reused spl
  ensure_packages postgresql-15 postgresql-client-15

  if pg_ready; then
    log "PostgreSQL already answering on 127.0.0.1:$PG_PORT; reusing it"
  else
    is_root || die "PostgreSQL is not running on 127.0.0.1:$PG_PORT and starting it needs root"
    port_open "$PG_PORT" && die "port $PG_PORT is taken by something that is not a ready PostgreSQL"
    # Prefer an existing cluster configured for our port, version 15 first.
    read -r PG_VER PG_NAME < <(pg_lsclusters -h | awk -v p="$PG_PORT" '$3 == p { print $1, $2 }' \
      | sort -k1,1nr | head -n 1) || true
    if [ -z "$PG_VER" ]; then
      if pg_lsclusters -h | awk '$1 == 15 && $2 == "main" { f = 1 } END { exit !f }'; then
        PG_VER=15 PG_NAME=idem   # 15/main exists on another port: leave it alone
      else
        PG_VER=15 PG_NAME=main
      fi
      log "creating cluster $PG_VER/$PG_NAME on port $PG_PORT"
      pg_createcluster "$PG_VER" "$PG_NAME" --port "$PG_PORT" </dev/null >>"$LOGDIR/postgres-start.log" 2>&1 \
        || { tail -n 20 "$LOGDIR/postgres-start.log" >&2; die "pg_createcluster failed"; }
    fi
    log "starting cluster $PG_VER/$PG_NAME"
    pg_start_cluster
    action=started

    # pg_stat_statements: preload it on a cluster we start ourselves (one restart, first time only).
    spl="$(pg_admin -At -c 'show shared_preload_libraries' </dev/null || true)"
    if [[ ",${spl// /}," != *,pg_stat_statements,* ]]; then
      log "enabling shared_preload_libraries=pg_stat_statements (restart)"
      spl="${spl:+$spl,}pg_stat_statements"
      if pg_admin -c "ALTER SYSTEM SET shared_preload_libraries = '$spl'" </dev/null; then
        pg_ctlcluster "$PG_VER" "$PG_NAME" restart </dev/null >>"$LOGDIR/postgres-start.log" 2>&1 \
          || warn "restart after enabling pg_stat_statements failed"
        wait_until "PostgreSQL restart" "$LOGDIR/postgres-start.log $(pg_log_file)" pg_ready
      fi
    fi
  fi

  if pg_test_login >/dev/null 2>&1; then
    log "role '$PG_USER' and database '$PG_DB' already usable"
  else
    log "creating role '$PG_USER' and database '$PG_DB'"
    pg_admin -d postgres <<SQL
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN CREATEDB PASSWORD '$PG_PASSWORD';
  END IF;
END
\$\$;
SELECT 'CREATE DATABASE $PG_DB OWNER $PG_USER'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB') \gexec
SQL
  fi

  # Make the extension available in the test database when the library is preloaded (optional).
  if is_root && [[ "$(pg_admin -At -c 'show shared_preload_libraries' </dev/null 2>/dev/null || true)" == *pg_stat_statements* ]]; then
    pg_admin -d "$PG_DB" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' </dev/null >/dev/null 2>&1 \
      || warn "could not create extension pg_stat_statements (ignored)"
  fi

  pg_test_login >/dev/null || die "cannot log in: PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -U $PG_USER -d $PG_DB"
  log "verified: $PG_USER@127.0.0.1:$PG_PORT/$PG_DB accepts password logins"
  SUMMARY+=("postgres  $action  127.0.0.1:$PG_PORT db=$PG_DB")
}

# --------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------
redis_ping() { [ "$(timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

provision_redis() {
  local action=reused
  ensure_packages redis-server redis-tools

  if redis_ping; then
    log "Redis already answering on 127.0.0.1:$REDIS_PORT; reusing it"
  else
    port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by something that does not answer Redis PING"
    local started=no
    if is_root && [ -x /etc/init.d/redis-server ] \
       && grep -Eq "^port[[:space:]]+$REDIS_PORT\b" /etc/redis/redis.conf 2>/dev/null \
       && grep -Eq '^bind[[:space:]]+127\.0\.0\.1' /etc/redis/redis.conf 2>/dev/null; then
      # The packaged config binds loopback on our port: use the packaged service.
      if service redis-server start </dev/null >>"$LOGDIR/redis-start.log" 2>&1; then
        started=yes
      fi
    fi
    if [ "$started" = no ]; then
      # Private instance: loopback only, no persistence, data/log under artifacts/.
      mkdir -p "$LOGDIR/redis"
      redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
        --dir "$LOGDIR/redis" --logfile "$LOGDIR/redis.log" --pidfile "$LOGDIR/redis.pid" \
        --save '' --appendonly no </dev/null >>"$LOGDIR/redis-start.log" 2>&1 \
        || { tail -n 20 "$LOGDIR/redis-start.log" >&2; die "redis-server failed to start"; }
    fi
    wait_until "Redis on 127.0.0.1:$REDIS_PORT" \
      "$LOGDIR/redis-start.log $LOGDIR/redis.log /var/log/redis/redis-server.log" redis_ping
    action=started
  fi
  SUMMARY+=("redis     $action  127.0.0.1:$REDIS_PORT")
}

# --------------------------------------------------------------------------------------------
# Redis Cluster: three primaries and three replicas on loopback, private to the tests
# --------------------------------------------------------------------------------------------
# Each node has its own folder under artifacts/ with a redis.conf (a test that kills a node starts
# it again from it), its pid file, log, AOF and nodes.conf. A healthy running cluster is reused; a
# broken one (a node down, slots unassigned, a primary without its replica) is torn down and made
# afresh, which takes a few seconds.
REDIS_CLUSTER_PORTS=(7000 7001 7002 7003 7004 7005)
REDIS_CLUSTER_DIR="$LOGDIR/redis-cluster"

cluster_cli() { local port="$1"; shift; timeout 10 redis-cli -h 127.0.0.1 -p "$port" "$@" </dev/null 2>/dev/null; }

# Healthy: every node answers with cluster_state:ok and all slots served; three primaries hold slots
# and each has a replica whose link to it is up.
redis_cluster_healthy() {
  local p info nodes
  for p in "${REDIS_CLUSTER_PORTS[@]}"; do
    info="$(cluster_cli "$p" cluster info)" || return 1
    grep -q '^cluster_state:ok' <<<"$info" || return 1
    grep -q '^cluster_slots_ok:16384' <<<"$info" || return 1
    grep -q '^cluster_known_nodes:6' <<<"$info" || return 1
  done
  nodes="$(cluster_cli "${REDIS_CLUSTER_PORTS[0]}" cluster nodes)" || return 1
  awk '
    $3 ~ /fail|handshake|noaddr/ { bad = 1 }
    $3 ~ /master/ && NF > 8 { primaries[$1] = 1 }
    $3 ~ /slave/ && $8 == "connected" { replicated[$4] = 1 }
    END {
      n = 0
      for (id in primaries) { n++; if (!(id in replicated)) bad = 1 }
      exit (bad || n != 3)
    }' <<<"$nodes" || return 1
  # Every replica has finished its first sync with its primary.
  for p in "${REDIS_CLUSTER_PORTS[@]}"; do
    info="$(cluster_cli "$p" info replication)" || return 1
    if grep -q '^role:slave' <<<"$info"; then
      grep -q '^master_link_status:up' <<<"$info" || return 1
      grep -q '^master_sync_in_progress:0' <<<"$info" || return 1
    fi
  done
}

# Stops a node this script started (by its pid file), never anything else on the port.
redis_cluster_stop_node() {
  local dir="$REDIS_CLUSTER_DIR/$1" pid
  [ -r "$dir/redis.pid" ] || return 0
  pid="$(cat "$dir/redis.pid")"
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "redis-server.*:$1"; then
    kill -9 "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$dir/redis.pid"
}

redis_cluster_start_node() {
  local port="$1" dir="$REDIS_CLUSTER_DIR/$1"
  mkdir -p "$dir"
  # AOF with fsync every second, like a typical production node; nodes.conf keeps the node's
  # identity and role, so a node started again from this file rejoins the cluster it left.
  cat >"$dir/redis.conf" <<EOF
# Written by Idem's eng/provision.sh: node $port of the test Redis Cluster.
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
dir $dir
pidfile $dir/redis.pid
logfile $dir/redis.log
cluster-enabled yes
cluster-config-file $dir/nodes.conf
cluster-node-timeout 2000
appendonly yes
appendfsync everysec
save ""
EOF
  redis-server "$dir/redis.conf" </dev/null >>"$LOGDIR/redis-cluster-start.log" 2>&1 \
    || { tail -n 20 "$LOGDIR/redis-cluster-start.log" >&2; die "redis-server (cluster node $port) failed to start"; }
}

# A healthy cluster may run from another checkout's files (tests kill and restart nodes by their pid files and
# configs): use the folder its nodes run in, if every node's pid file is readable there; otherwise it cannot be reused.
redis_cluster_adopt() {
  local running p
  running="$(cluster_cli "${REDIS_CLUSTER_PORTS[0]}" config get dir | sed -n 2p)"
  [ -n "$running" ] || return 1
  running="$(dirname "$running")"
  for p in "${REDIS_CLUSTER_PORTS[@]}"; do
    [ -r "$running/$p/redis.pid" ] && [ -r "$running/$p/redis.conf" ] || return 1
  done
  [ "$running" = "$REDIS_CLUSTER_DIR" ] || log "the running Redis Cluster's files are in $running; using them"
  REDIS_CLUSTER_DIR="$running"
}

provision_redis_cluster() {
  local action=reused p
  if redis_cluster_healthy && redis_cluster_adopt; then
    log "Redis Cluster already healthy on ports ${REDIS_CLUSTER_PORTS[*]}; reusing it (files: $REDIS_CLUSTER_DIR)"
  else
    log "making a Redis Cluster on ports ${REDIS_CLUSTER_PORTS[*]} (files: $REDIS_CLUSTER_DIR)"
    for p in "${REDIS_CLUSTER_PORTS[@]}"; do redis_cluster_stop_node "$p"; done
    for p in "${REDIS_CLUSTER_PORTS[@]}"; do
      port_open "$p" && die "port $p is taken by something this script did not start; free it for the test Redis Cluster"
      port_open "$(( p + 10000 ))" && die "port $(( p + 10000 )) (cluster bus of $p) is taken; free it for the test Redis Cluster"
    done
    rm -rf "$REDIS_CLUSTER_DIR"
    for p in "${REDIS_CLUSTER_PORTS[@]}"; do redis_cluster_start_node "$p"; done
    for p in "${REDIS_CLUSTER_PORTS[@]}"; do
      wait_until "Redis Cluster node on 127.0.0.1:$p" "$REDIS_CLUSTER_DIR/$p/redis.log" \
        bash -c "[ \"\$(timeout 5 redis-cli -h 127.0.0.1 -p $p ping)\" = PONG ]"
    done
    local addresses=()
    for p in "${REDIS_CLUSTER_PORTS[@]}"; do addresses+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes \
      </dev/null >>"$LOGDIR/redis-cluster-start.log" 2>&1 \
      || { tail -n 30 "$LOGDIR/redis-cluster-start.log" >&2; die "redis-cli --cluster create failed"; }
    wait_until "Redis Cluster (3 primaries, 3 replicas, all slots, replicas in sync)" \
      "$LOGDIR/redis-cluster-start.log" redis_cluster_healthy
    action=created
  fi
  local list
  list="$(printf '127.0.0.1:%s,' "${REDIS_CLUSTER_PORTS[@]}")"
  REDIS_CLUSTER="${list%,}"
  SUMMARY+=("cluster   $action  $REDIS_CLUSTER")
}

# --------------------------------------------------------------------------------------------
# RabbitMQ
# --------------------------------------------------------------------------------------------
RABBIT_ETC=/etc/rabbitmq
RABBIT_LOGS="/var/log/rabbitmq/startup_log /var/log/rabbitmq/startup_err /var/log/rabbitmq/rabbit@localhost.log"

# The Debian wrappers switch to the rabbitmq user (and its Erlang cookie) when run as root.
rabbit_ping() { timeout 30 rabbitmq-diagnostics -q ping </dev/null; }
# AMQP 0-9-1 protocol header -> a broker answers with a method frame (type byte 01).
amqp_probe() {
  [ "$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RABBIT_PORT; printf 'AMQP\\x00\\x00\\x09\\x01' >&3; head -c 1 <&3 | od -An -tx1" 2>/dev/null | tr -d ' ')" = 01 ]
}
# As root ask the node itself; a non-root user cannot run the CLI tools, so speak AMQP instead.
rabbit_ready() {
  if is_root; then port_open "$RABBIT_PORT" && rabbit_ping && amqp_probe; else amqp_probe; fi
}

# Writes loopback-only configuration, but only where the administrator has not set anything.
rabbit_write_config() {
  is_root || return 0
  mkdir -p "$RABBIT_ETC"
  if [ ! -e "$RABBIT_ETC/rabbitmq.conf" ]; then
    log "writing $RABBIT_ETC/rabbitmq.conf (AMQP on 127.0.0.1:$RABBIT_PORT)"
    cat >"$RABBIT_ETC/rabbitmq.conf" <<EOF
# Written by Idem's eng/provision.sh: loopback-only broker for tests.
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
loopback_users.guest = true
EOF
  fi
  # Node name and Erlang distribution on loopback, so nothing depends on the machine's hostname
  # resolving and nothing listens on external interfaces. Added only if no node name is set.
  if ! grep -Eq '^[[:space:]]*(export[[:space:]]+)?(RABBITMQ_)?(NODENAME|NODE_IP_ADDRESS)=' \
       "$RABBIT_ETC/rabbitmq-env.conf" 2>/dev/null; then
    log "adding loopback node settings to $RABBIT_ETC/rabbitmq-env.conf"
    cat >>"$RABBIT_ETC/rabbitmq-env.conf" <<'EOF'
# Added by Idem's eng/provision.sh: loopback-only node.
NODENAME=rabbit@localhost
NODE_IP_ADDRESS=127.0.0.1
export ERL_EPMD_ADDRESS=127.0.0.1
SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
EOF
  fi
  if getent passwd rabbitmq >/dev/null; then
    chown rabbitmq:rabbitmq "$RABBIT_ETC" "$RABBIT_ETC/rabbitmq.conf" "$RABBIT_ETC/rabbitmq-env.conf" 2>/dev/null || true
  fi
}

provision_rabbitmq() {
  local action=reused
  if { pkg_installed rabbitmq-server || ! is_root; } && rabbit_ready >/dev/null 2>&1; then
    log "RabbitMQ already running with AMQP on 127.0.0.1:$RABBIT_PORT; reusing it"
  else
    # Write the config before installing, so that a package that starts itself already
    # comes up on loopback (the package keeps an existing rabbitmq-env.conf).
    pkg_installed rabbitmq-server || rabbit_write_config
    ensure_packages rabbitmq-server
    if rabbit_ready >/dev/null 2>&1; then
      log "RabbitMQ came up during install; reusing it"
    else
      is_root || die "RabbitMQ is not running and starting it needs root"
      port_open "$RABBIT_PORT" && die "port $RABBIT_PORT is taken by something that is not this RabbitMQ node"
      rabbit_write_config
      # Epmd on loopback (the broker would otherwise start one on all interfaces).
      if command -v epmd >/dev/null && ! epmd -names >/dev/null 2>&1; then
        ERL_EPMD_ADDRESS=127.0.0.1 epmd -daemon </dev/null >>"$LOGDIR/rabbitmq-start.log" 2>&1 || true
      fi
      log "starting rabbitmq-server (usually 10-30 s)"
      # The init script waits up to 600 s itself; bound it. The broker is detached by
      # start-stop-daemon and writes to /var/log/rabbitmq, not to our stdout.
      timeout "$WAIT_TIMEOUT" service rabbitmq-server start </dev/null >>"$LOGDIR/rabbitmq-start.log" 2>&1 \
        || warn "'service rabbitmq-server start' did not succeed; waiting for the node anyway"
      wait_until "RabbitMQ node" "$LOGDIR/rabbitmq-start.log $RABBIT_LOGS" rabbit_ping
      wait_until "RabbitMQ AMQP listener on 127.0.0.1:$RABBIT_PORT" "$LOGDIR/rabbitmq-start.log $RABBIT_LOGS" \
        amqp_probe
      action=started
    fi
  fi
  if ! is_root; then
    log "not root: skipping rabbitmqctl checks (AMQP answers on 127.0.0.1:$RABBIT_PORT)"
  elif ! timeout 60 rabbitmqctl -q await_startup </dev/null >/dev/null 2>&1; then
    warn "rabbitmqctl await_startup failed"
  elif timeout 30 rabbitmqctl -q authenticate_user guest guest </dev/null >/dev/null 2>&1; then
    log "verified: guest/guest can authenticate"
  else
    warn "guest/guest could not be authenticated; the tests expect it"
  fi
  SUMMARY+=("rabbitmq  $action  127.0.0.1:$RABBIT_PORT (guest/guest)")
}

# --------------------------------------------------------------------------------------------
# The gateway tests' upstream is a Python http.server script (test/Idem.Gateway.Tests).
provision_python() {
  command -v python3 >/dev/null 2>&1 || ensure_packages python3
  SUMMARY+=("python3   $(python3 --version 2>&1)")
}

# --------------------------------------------------------------------------------------------
# The payments console's browser tests (test/Idem.Payments.ConsoleTests) drive Debian's Chromium through Playwright;
# Playwright's own browser download is never used.
provision_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    # Without root only those tests suffer (they fail under CI=true, skip otherwise): warn, do not stop the run.
    if is_root; then ensure_packages chromium; else warn "chromium is missing; the console's browser tests will not run"; fi
  fi
  SUMMARY+=("chromium  $(chromium --version 2>/dev/null || echo 'not installed')")
}

# --------------------------------------------------------------------------------------------
write_env_file() {
  local tmp="$ENV_FILE.tmp.$$"
  cat >"$tmp" <<EOF
# Written by eng/provision.sh; source it before running the tests.
export IDEM_TEST_POSTGRES="Host=127.0.0.1;Port=$PG_PORT;Username=$PG_USER;Password=$PG_PASSWORD;Database=$PG_DB"
export IDEM_TEST_REDIS="127.0.0.1:$REDIS_PORT"
export IDEM_TEST_REDIS_CLUSTER="$REDIS_CLUSTER"
export IDEM_TEST_REDIS_CLUSTER_DIR="$REDIS_CLUSTER_DIR"
export IDEM_TEST_RABBITMQ="amqp://guest:guest@127.0.0.1:$RABBIT_PORT/"
EOF
  mv -f "$tmp" "$ENV_FILE"
  log "wrote $ENV_FILE"
}

main() {
  local t0 t1
  t0="$(now_us)"
  mkdir -p "$LOGDIR"
  step "PostgreSQL" provision_postgres
  step "Redis" provision_redis
  step "Redis Cluster" provision_redis_cluster
  step "RabbitMQ" provision_rabbitmq
  step "Python" provision_python
  step "Chromium" provision_chromium
  write_env_file
  t1="$(now_us)"
  log "services:"
  local s
  for s in "${SUMMARY[@]}"; do log "  $s"; done
  log "total $(( (t1 - t0) / 1000000 ))s"
}

main "$@"

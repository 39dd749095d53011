#!/usr/bin/env bash
# Installs (only what is missing) and starts the backing servers the real
# stores and their tests need, on 127.0.0.1, and stops what it started.
#
#   deploy/local/backends.sh up [name...]   # install + start, wait until each answers
#   deploy/local/backends.sh status         # one line per server
#   deploy/local/backends.sh down [name...] # stop the servers this script started
#   deploy/local/backends.sh env            # print the MERIDIAN_TEST_* exports
#   deploy/local/backends.sh install        # only install what is missing
#
# Names: postgres redis cluster dynamodb s3 mongodb cassandra elasticsearch
# kafka zookeeper clickhouse. ClickHouse runs as one replica of the cluster
# `meridian` with ZooKeeper (started with it), so the analytics tables can
# be tested both single-node and replicated.
# PostgreSQL 5432 and Redis 6379 are pre-started on this machine kind; when
# they already answer they are used as they are and never stopped here.
# Which server stands in for which store, and what a stand-in does not cover:
# docs/stores.md.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# Servers' data and pid files live outside the clone too: a server started
# from one clone keeps running after that clone is deleted, and the next
# clone (CI takes a clean one each time) finds it, its files and its pid.
DATA="${MERIDIAN_BACKENDS_DIR:-/var/tmp/meridian-backends}"
mkdir -p "$DATA"
DATA="$(cd "$DATA" && pwd)"
# Installed tools live outside the clone so CI runs on one machine reuse them.
TOOLS="${MERIDIAN_TOOLS_DIR:-/var/tmp/meridian-tools}"
HELPERS="${MERIDIAN_BACKEND_HELPERS:-$ROOT/../shared/backends-helpers}"
mkdir -p "$DATA" "$TOOLS"
[[ -d "$HELPERS" ]] || HELPERS=/work/shared/backends-helpers

PG_PORT=5432
REDIS_PORT=6379
LOGS="$TOOLS/logs"
mkdir -p "$LOGS"

# shellcheck source=deploy/local/lib.sh
source "$ROOT/deploy/local/lib.sh"

log() { echo "backends: $*" >&2; }

# Any failing command names itself (functions and subshells inherit this),
# so a first run that fails says where instead of just stopping.
set -E
CURRENT=
on_error() {
  log "FAILED (exit $1): $2  [${3:-main}, line $4]"
  if [[ -n $CURRENT && -f $DATA/$CURRENT/log ]]; then
    log "last lines of $DATA/$CURRENT/log:"
    tail -n 20 "$DATA/$CURRENT/log" >&2
  fi
}
trap 'on_error $? "$BASH_COMMAND" "${FUNCNAME[0]:-}" $LINENO' ERR

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 100); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$name did not come up"; return 1
}

pg_up() {
  if pg_isready -q -h 127.0.0.1 -p $PG_PORT 2>/dev/null; then return 0; fi
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql postgresql-client
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$version" ]] && pg_lsclusters -h 2>/dev/null | grep -q "^$version main"; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  if ! pg_isready -q -h 127.0.0.1 -p $PG_PORT 2>/dev/null; then
    # No usable system cluster: run our own, trust auth on loopback.
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    mkdir -p "$DATA/pg"
    chown postgres:postgres "$DATA/pg"
    if [[ ! -f "$DATA/pg/data/PG_VERSION" ]]; then
      runuser -u postgres -- "$bin/initdb" -D "$DATA/pg/data" -A trust -U postgres --no-locale -E UTF8 >/dev/null
    fi
    runuser -u postgres -- "$bin/pg_ctl" -D "$DATA/pg/data" -l "$DATA/pg/log" \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $DATA/pg" -w start >/dev/null
    echo started > "$DATA/pg/ours"
  fi
  wait_for postgresql pg_isready -q -h 127.0.0.1 -p $PG_PORT
}

pg_down() {
  if [[ -f "$DATA/pg/ours" ]]; then
    local bin
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    runuser -u postgres -- "$bin/pg_ctl" -D "$DATA/pg/data" -m fast stop >/dev/null || true
    rm -f "$DATA/pg/ours"
  fi
}

redis_up() {
  if redis-cli -h 127.0.0.1 -p $REDIS_PORT ping 2>/dev/null | grep -q PONG; then return 0; fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server redis-tools
  mkdir -p "$DATA/redis"
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --save '' --appendonly no \
    --dir "$DATA/redis" --daemonize yes --pidfile "$DATA/redis/redis.pid" >/dev/null
  wait_for redis sh -c "redis-cli -h 127.0.0.1 -p $REDIS_PORT ping | grep -q PONG"
}

redis_down() {
  if [[ -f "$DATA/redis/redis.pid" ]]; then
    kill "$(cat "$DATA/redis/redis.pid")" 2>/dev/null || true
    rm -f "$DATA/redis/redis.pid"
  fi
}


# --- servers this script runs itself: started in the background, pid recorded ---

CLUSTER_PORTS=(7000 7001 7002 7003 7004 7005)
DYNAMODB_PORT=18000
S3_PORT=18014
S3_ACCESS_KEY=meridian-dev
S3_SECRET_KEY=meridian-dev-secret
MONGODB_PORT=27017
CASSANDRA_PORT=19042
ELASTICSEARCH_PORT=19200
KAFKA_PORT=19092
CLICKHOUSE_HTTP_PORT=18123
CLICKHOUSE_TCP_PORT=19000
CLICKHOUSE_INTERSERVER_PORT=19009
ZOOKEEPER_PORT=12181
CLICKHOUSE_CLUSTER=meridian

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_bg() { # name, command... ; logs and pid under $DATA/<name>
  local name=$1; shift
  mkdir -p "$DATA/$name"
  # Started from its own directory, not the caller's: a server that
  # resolves paths against its working directory (s3s-fs does) would fail
  # every request once the clone it was started from is deleted.
  (cd "$DATA/$name" && exec nohup "$@" >"$DATA/$name/log" 2>&1 </dev/null) &
  echo $! >"$DATA/$name/pid"
}

stop_bg() { # name
  local pidfile="$DATA/$1/pid"
  [[ -f $pidfile ]] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

venv_tool() { # venv name, pip spec
  local venv="$TOOLS/$1"
  if [[ ! -x $venv/bin/python ]]; then python3 -m venv "$venv"; fi
  if ! "$venv/bin/pip" show -q "${2%%=*}" >/dev/null 2>&1; then
    with_progress "installing $2 (PyPI)" "$LOGS/$1.log" "$venv/bin/pip" install -q "$2"
  fi
}

cluster_up() {
  local p
  if redis-cli -p 7000 cluster info 2>/dev/null | grep -q cluster_state:ok; then return 0; fi
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server redis-tools
  for p in "${CLUSTER_PORTS[@]}"; do
    # A fresh cluster each start: nothing is kept on disk, so stale node
    # files would only describe slots whose data is gone.
    rm -rf "$DATA/cluster/$p"; mkdir -p "$DATA/cluster/$p"
    redis-server --bind 127.0.0.1 --port "$p" --cluster-enabled yes \
      --cluster-config-file "$DATA/cluster/$p/nodes.conf" --cluster-node-timeout 5000 \
      --dir "$DATA/cluster/$p" --save '' --appendonly no \
      --daemonize yes --pidfile "$DATA/cluster/$p/redis.pid" >/dev/null
  done
  for p in "${CLUSTER_PORTS[@]}"; do wait_for "cluster node $p" redis-cli -p "$p" ping; done
  redis-cli --cluster create $(printf '127.0.0.1:%s ' "${CLUSTER_PORTS[@]}") \
    --cluster-replicas 1 --cluster-yes >/dev/null
  wait_for "redis cluster" sh -c "redis-cli -p 7000 cluster info | grep -q cluster_state:ok"
}

cluster_down() {
  local p
  for p in "${CLUSTER_PORTS[@]}"; do
    if [[ -f $DATA/cluster/$p/redis.pid ]]; then
      kill "$(cat "$DATA/cluster/$p/redis.pid")" 2>/dev/null || true
      rm -f "$DATA/cluster/$p/redis.pid"
    fi
  done
}

dynamodb_install() {
  [[ -f $TOOLS/dynamodb/package/emulator/DynamoDBLocal.jar ]] && return 0
  command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
  command -v npm >/dev/null 2>&1 || apt_install npm
  mkdir -p "$TOOLS/dynamodb"
  with_progress "installing DynamoDB Local (npm amplify-dynamodb-simulator@2.9.30)" "$LOGS/dynamodb.log" \
    sh -c 'cd "$1" && npm pack amplify-dynamodb-simulator@2.9.30 &&
      tar xzf amplify-dynamodb-simulator-2.9.30.tgz package/emulator' sh "$TOOLS/dynamodb"
}

dynamodb_up() {
  port_open $DYNAMODB_PORT && return 0
  dynamodb_install
  local e=$TOOLS/dynamodb/package/emulator
  # The stock jar binds every interface; the launcher pins it to loopback.
  start_bg dynamodb java -Djava.library.path="$e/DynamoDBLocal_lib" -cp "$e/DynamoDBLocal.jar" \
    "$HELPERS/LoopbackDynamoDBLocal.java" -inMemory -sharedDb -disableTelemetry -port $DYNAMODB_PORT
  wait_for dynamodb port_open $DYNAMODB_PORT
}

s3_install() {
  [[ -x $TOOLS/s3s-fs/bin/s3s-fs ]] && return 0
  with_progress "building s3s-fs 0.14.1 (cargo install, ~4 minutes the first time)" "$LOGS/s3.log" \
    env -u CARGO_TARGET_DIR cargo install --locked --root "$TOOLS/s3s-fs" \
    --target-dir "$TOOLS/s3s-fs-build" s3s-fs@0.14.1 --features binary
}

s3_up() {
  port_open $S3_PORT && return 0
  s3_install
  mkdir -p "$DATA/s3/data"
  start_bg s3 "$TOOLS/s3s-fs/bin/s3s-fs" --host 127.0.0.1 --port $S3_PORT \
    --access-key $S3_ACCESS_KEY --secret-key $S3_SECRET_KEY "$DATA/s3/data"
  wait_for s3 port_open $S3_PORT
}

mongodb_install() { venv_tool venv-nx27017 nx-27017==0.8.1; }

mongodb_up() {
  port_open $MONGODB_PORT && return 0
  mongodb_install
  rm -rf "$DATA/mongodb/data"; mkdir -p "$DATA/mongodb/data"
  start_bg mongodb "$TOOLS/venv-nx27017/bin/nx-27017" --data-dir "$DATA/mongodb/data" \
    --host 127.0.0.1 -p $MONGODB_PORT --log-file "$DATA/mongodb/server.log"
  wait_for mongodb port_open $MONGODB_PORT
}

cassandra_install() {
  [[ -x $TOOLS/kassandra/release/kassandra-serve ]] && return 0
  with_progress "building kassandra-serve (the CQL server for tests, ~1 minute)" "$LOGS/cassandra.log" \
    env CARGO_TARGET_DIR="$TOOLS/kassandra" cargo build --release --locked \
    --manifest-path "$HELPERS/kassandra-serve/Cargo.toml"
}

cassandra_up() {
  port_open $CASSANDRA_PORT && return 0
  cassandra_install
  start_bg cassandra "$TOOLS/kassandra/release/kassandra-serve" 127.0.0.1:$CASSANDRA_PORT
  wait_for cassandra port_open $CASSANDRA_PORT
}

elasticsearch_install() { venv_tool venv-osmem osmem-server==0.1.6; }

elasticsearch_up() {
  port_open $ELASTICSEARCH_PORT && return 0
  elasticsearch_install
  local bin
  bin=$("$TOOLS/venv-osmem/bin/python" -c 'import osmem_server; print(osmem_server.resolve_binary())')
  start_bg elasticsearch "$bin" -addr 127.0.0.1:$ELASTICSEARCH_PORT -no-stdin-watch
  wait_for elasticsearch port_open $ELASTICSEARCH_PORT
}

kafka_install() { venv_tool venv-noida noida-db==0.2.3; }

# The broker's native binary (tests start private brokers with it to stop
# and restart them).
kafka_bin() { ls "$TOOLS"/venv-noida/lib/python3*/site-packages/noida_db/noida-db 2>/dev/null | head -n 1; }

kafka_up() {
  port_open $KAFKA_PORT && return 0
  kafka_install
  local bin
  bin=$(kafka_bin)
  rm -rf "$DATA/kafka/data"; mkdir -p "$DATA/kafka/data"
  # The native binary, not the Python wrapper: SIGTERM to the wrapper would
  # orphan the server.
  start_bg kafka "$bin" start --data-dir "$DATA/kafka/data" --host 127.0.0.1 \
    --only kafka --kafka-port $KAFKA_PORT
  wait_for kafka port_open $KAFKA_PORT
}

# Prometheus is not a store: tests start their own against a test cluster
# (and deploy/local/prometheus.sh one against the local stack); `up`
# only makes sure the Debian package is there.
prometheus_install() {
  command -v prometheus >/dev/null 2>&1 || apt_install prometheus
}

zookeeper_install() {
  [[ -f /usr/share/java/zookeeper.jar ]] || apt_install zookeeper
  command -v java >/dev/null 2>&1 || apt_install default-jre-headless
}

zookeeper_up() {
  port_open $ZOOKEEPER_PORT && return 0
  zookeeper_install
  local d=$DATA/zookeeper
  rm -rf "$d/data"; mkdir -p "$d/data"
  cat >"$d/zoo.cfg" <<EOF
tickTime=2000
dataDir=$d/data
clientPort=$ZOOKEEPER_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
EOF
  start_bg zookeeper java -Xmx128m -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar \
    org.apache.zookeeper.server.ZooKeeperServerMain "$d/zoo.cfg"
  wait_for zookeeper port_open $ZOOKEEPER_PORT
}

clickhouse_install() {
  [[ -x /usr/sbin/clickhouse-server ]] || apt_install clickhouse-server clickhouse-client
}

# One shard of one replica, enough to create and use Replicated* tables
# `ON CLUSTER` as a production cluster does (docs/deploy.md).
clickhouse_cluster_config() {
  cat <<EOF
<yandex>
  <zookeeper>
    <node><host>127.0.0.1</host><port>$ZOOKEEPER_PORT</port></node>
  </zookeeper>
  <macros><shard>01</shard><replica>local-1</replica></macros>
  <remote_servers>
    <$CLICKHOUSE_CLUSTER>
      <shard>
        <internal_replication>true</internal_replication>
        <replica><host>127.0.0.1</host><port>$CLICKHOUSE_TCP_PORT</port></replica>
      </shard>
    </$CLICKHOUSE_CLUSTER>
  </remote_servers>
</yandex>
EOF
}

clickhouse_up() {
  port_open $CLICKHOUSE_HTTP_PORT && return 0
  clickhouse_install
  local d=$DATA/clickhouse
  rm -rf "$d"; mkdir -p "$d/data" "$d/logs"
  sed -e "s|<listen_host>::1</listen_host>||; s|/var/log/clickhouse-server/|$d/logs/|g; s|/var/lib/clickhouse/|$d/data/|g" \
    -e "s|<http_port>8123<|<http_port>$CLICKHOUSE_HTTP_PORT<|; s|<tcp_port>9000<|<tcp_port>$CLICKHOUSE_TCP_PORT<|" \
    -e "s|<interserver_http_port>9009<|<interserver_http_port>$CLICKHOUSE_INTERSERVER_PORT<|" \
    /etc/clickhouse-server/config.xml >"$d/config.xml"
  cp /etc/clickhouse-server/users.xml "$d/"
  mkdir -p "$d/config.d"
  clickhouse_cluster_config >"$d/config.d/meridian-cluster.xml"
  zookeeper_up
  start_bg clickhouse /usr/sbin/clickhouse-server --config-file="$d/config.xml"
  wait_for clickhouse sh -c "curl -fsS http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping"
}

for one in dynamodb s3 mongodb cassandra elasticsearch kafka zookeeper clickhouse; do
  eval "${one}_down() { stop_bg $one; }"
done

ALL=(postgres redis cluster dynamodb s3 mongodb cassandra elasticsearch kafka zookeeper clickhouse)
declare -A PORT_OF=([postgres]=$PG_PORT [redis]=$REDIS_PORT [cluster]=7000 [dynamodb]=$DYNAMODB_PORT
  [s3]=$S3_PORT [mongodb]=$MONGODB_PORT [cassandra]=$CASSANDRA_PORT [elasticsearch]=$ELASTICSEARCH_PORT
  [kafka]=$KAFKA_PORT [zookeeper]=$ZOOKEEPER_PORT [clickhouse]=$CLICKHOUSE_HTTP_PORT)
postgres_up() { pg_up; }
postgres_down() { pg_down; }

status() {
  local name
  for name in "${ALL[@]}"; do
    if port_open "${PORT_OF[$name]}"; then state=up; else state=down; fi
    printf '%-14s 127.0.0.1:%-6s %s\n' "$name" "${PORT_OF[$name]}" "$state"
  done
}

env_exports() {
  echo "export MERIDIAN_TEST_POSTGRES=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export MERIDIAN_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT"
  echo "export MERIDIAN_TEST_REDIS_CLUSTER=redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002"
  echo "export MERIDIAN_TEST_DYNAMODB=http://127.0.0.1:$DYNAMODB_PORT"
  echo "export MERIDIAN_TEST_S3=http://$S3_ACCESS_KEY:$S3_SECRET_KEY@127.0.0.1:$S3_PORT"
  echo "export MERIDIAN_TEST_MONGODB=mongodb://127.0.0.1:$MONGODB_PORT/?directConnection=true"
  echo "export MERIDIAN_TEST_CASSANDRA=127.0.0.1:$CASSANDRA_PORT"
  echo "export MERIDIAN_TEST_ELASTICSEARCH=http://127.0.0.1:$ELASTICSEARCH_PORT"
  echo "export MERIDIAN_TEST_KAFKA=127.0.0.1:$KAFKA_PORT"
  echo "export MERIDIAN_TEST_KAFKA_SERVER=$(kafka_bin)"
  echo "export MERIDIAN_TEST_CLICKHOUSE=http://127.0.0.1:$CLICKHOUSE_HTTP_PORT"
  echo "export MERIDIAN_TEST_CLICKHOUSE_CLUSTER=$CLICKHOUSE_CLUSTER"
  echo "export MERIDIAN_TEST_PROMETHEUS=$(command -v prometheus || echo /usr/bin/prometheus)"
}

cmd=${1:-}
shift || true
names=("$@")
((${#names[@]})) || names=("${ALL[@]}")
for name in "${names[@]}"; do
  if [[ " ${ALL[*]} " != *" $name "* ]]; then
    echo "backends: unknown server $name (one of: ${ALL[*]})" >&2
    exit 2
  fi
done
case "$cmd" in
  up)
    # Slow installs first and together, so a fresh machine waits once
    # (apt installs among them take turns: apt_install holds one lock).
    pids=() labels=()
    for name in "${names[@]}"; do
      if declare -F "${name}_install" >/dev/null; then
        "${name}_install" & pids+=($!) labels+=("$name")
      fi
    done
    prometheus_install & pids+=($!) labels+=(prometheus)
    failed=()
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${labels[$i]}"); done
    if ((${#failed[@]})); then
      log "FAILED to install: ${failed[*]} (the reasons are above; logs in $LOGS)"
      exit 1
    fi
    for name in "${names[@]}"; do
      CURRENT=$name
      "${name}_up"
    done
    CURRENT=
    status ;;
  down)
    for name in "${names[@]}"; do "${name}_down"; done
    status ;;
  install)
    for name in "${names[@]}"; do
      if declare -F "${name}_install" >/dev/null; then "${name}_install"; fi
    done ;;
  status) status ;;
  env) env_exports ;;
  *) echo "usage: $0 up|down|status|env|install [name...]" >&2; exit 2 ;;
esac

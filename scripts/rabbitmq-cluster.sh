#!/usr/bin/env bash
# A 3-node RabbitMQ cluster on this machine for kombu's cluster tests, beside (never touching)
# the default node on 5672.
#
#   scripts/rabbitmq-cluster.sh start            start the three nodes and join them
#   scripts/rabbitmq-cluster.sh stop             stop them (data kept; `reset` removes it)
#   scripts/rabbitmq-cluster.sh reset            stop them and delete their data and logs
#   scripts/rabbitmq-cluster.sh kill N           SIGKILL node N (1-3): no goodbye to clients
#   scripts/rabbitmq-cluster.sh stop-node N      stop node N gracefully
#   scripts/rabbitmq-cluster.sh start-node N     start node N again (it rejoins)
#   scripts/rabbitmq-cluster.sh status           the cluster as node 1 sees it
#   scripts/rabbitmq-cluster.sh urls             the AMQP URLs, `;`-joined (a failover list)
#   scripts/rabbitmq-cluster.sh env              the variables the cluster tests read
#
# Node N is `kombu-cN@localhost`, AMQP on 127.0.0.1:(5680+N), management on (15680+N),
# Erlang distribution on (25680+N); its data, logs, config, plugin file and pid file live in
# $KOMBU_CLUSTER_DIR (default /tmp/kombu-cluster). Everything is its own: the default node's
# name, ports, data directory and plugins file are not used. Override the base ports with
# KOMBU_CLUSTER_AMQP_BASE, KOMBU_CLUSTER_HTTP_BASE and KOMBU_CLUSTER_DIST_BASE.
set -euo pipefail

DIR=${KOMBU_CLUSTER_DIR:-/tmp/kombu-cluster}
AMQP_BASE=${KOMBU_CLUSTER_AMQP_BASE:-5680}
HTTP_BASE=${KOMBU_CLUSTER_HTTP_BASE:-15680}
DIST_BASE=${KOMBU_CLUSTER_DIST_BASE:-25680}
NODES=(1 2 3)
# The scripts themselves, run as the current user: Debian's wrappers in /usr/sbin switch to the
# `rabbitmq` user, which cannot write to $DIR, and use its Erlang cookie.
BIN=${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}
if [ ! -x "$BIN/rabbitmq-server" ]; then BIN=$(dirname "$(command -v rabbitmq-server)"); fi

node_name() { echo "kombu-c$1@localhost"; }

# The environment rabbitmq-server and rabbitmqctl need for node $1.
node_env() {
    local n=$1 d="$DIR/c$1"
    echo RABBITMQ_NODENAME="$(node_name "$n")" \
        RABBITMQ_NODE_PORT=$((AMQP_BASE + n)) \
        RABBITMQ_DIST_PORT=$((DIST_BASE + n)) \
        RABBITMQ_MNESIA_BASE="$d/mnesia" \
        RABBITMQ_LOG_BASE="$d/log" \
        RABBITMQ_PID_FILE="$d/pid" \
        RABBITMQ_CONFIG_FILE="$d/rabbitmq" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$d/enabled_plugins" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$d/advanced.config"
}

ctl() {
    local n=$1
    shift
    env $(node_env "$n") "$BIN/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

prepare() {
    local n=$1 d="$DIR/c$1"
    mkdir -p "$d/mnesia" "$d/log"
    cat >"$d/rabbitmq.conf" <<EOF
listeners.tcp.local = 127.0.0.1:$((AMQP_BASE + n))
management.tcp.port = $((HTTP_BASE + n))
management.tcp.ip = 127.0.0.1
loopback_users.guest = true
# Small disks must not stop the tests: the default node keeps its own settings.
disk_free_limit.absolute = 50MB
# A killed peer is noticed within seconds.
net_ticktime = 10
EOF
    echo '[rabbitmq_management].' >"$d/enabled_plugins"
    echo '[].' >"$d/advanced.config"
}

running() { ctl "$1" status >/dev/null 2>&1; }

start_node() {
    local n=$1
    if running "$n"; then
        return 0
    fi
    prepare "$n"
    env $(node_env "$n") "$BIN/rabbitmq-server" -detached >"$DIR/c$n/log/startup.log" 2>&1 || true
    # `wait` returns when the app is up (or fails when the node died starting).
    if ! ctl "$n" wait --timeout 120 "$DIR/c$n/pid" >/dev/null 2>&1; then
        echo "node $(node_name "$n") did not start; its log: $DIR/c$n/log" >&2
        tail -n 30 "$DIR/c$n/log/"*.log >&2 2>/dev/null || true
        exit 1
    fi
}

in_cluster() {
    # Whether node $1 is a running member of node 1's cluster.
    ctl 1 eval "lists:member('$(node_name "$1")', rabbit_nodes:all_running())." 2>/dev/null | grep -q true
}

join() {
    local n=$1
    if in_cluster "$n"; then
        return 0
    fi
    ctl "$n" stop_app >/dev/null
    ctl "$n" reset >/dev/null
    ctl "$n" join_cluster "$(node_name 1)" >/dev/null
    ctl "$n" start_app >/dev/null
}

urls() {
    local out=()
    for n in "${NODES[@]}"; do
        out+=("amqp://guest:guest@127.0.0.1:$((AMQP_BASE + n))//")
    done
    (IFS=';'; echo "${out[*]}")
}

case "${1:-}" in
start)
    for n in "${NODES[@]}"; do start_node "$n"; done
    for n in 2 3; do join "$n"; done
    ctl 1 await_online_nodes 3 --timeout 120 >/dev/null 2>&1 || true
    echo "cluster up: $(urls)"
    ;;
stop)
    # Reverse order: the last node to stop is the first to start next time.
    for n in 3 2 1; do
        if running "$n"; then ctl "$n" stop "$DIR/c$n/pid" >/dev/null 2>&1 || true; fi
    done
    ;;
reset)
    "$0" stop
    for n in "${NODES[@]}"; do
        pid=$(cat "$DIR/c$n/pid" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" || true; fi
    done
    rm -rf "$DIR"
    ;;
kill)
    n=${2:?node number}
    pid=$(cat "$DIR/c$n/pid")
    kill -9 "$pid"
    # Gone when the pid is.
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    ;;
stop-node)
    n=${2:?node number}
    ctl "$n" stop "$DIR/c$n/pid" >/dev/null
    ;;
start-node)
    n=${2:?node number}
    start_node "$n"
    ;;
status)
    ctl 1 cluster_status
    ;;
urls)
    urls
    ;;
env)
    echo "KOMBU_CLUSTER_URLS='$(urls)'"
    echo "KOMBU_CLUSTER_SCRIPT='$(cd "$(dirname "$0")" && pwd)/$(basename "$0")'"
    ;;
*)
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

#!/usr/bin/env bash
#
# kafka.sh: a throw-away single-node Apache Kafka (KRaft, combined
# broker+controller) on 127.0.0.1 for vsampd's integration tests and demo
# (the broker of the tests and the demo). The jars come from Maven Central through
# tests/kafka/pom.xml; nothing else is downloaded.
#
#   kafka.sh deps                      install missing Debian tools (root)
#   kafka.sh fetch                     resolve the jars into the cache
#   kafka.sh start DIR PORT [k=v ...]  format DIR, start the broker, wait
#   kafka.sh stop DIR                  SIGTERM, 20 s, then SIGKILL
#   kafka.sh restart DIR               stop, then start again on the same data
#   kafka.sh topic DIR PORT NAME PARTITIONS [NAME PARTITIONS ...]
#   kafka.sh classpath                 print the lib dir (after fetch)
#
# Environment:
#   VSAMPD_CACHE           cache root (default $HOME/.cache/vsampd)
#   KAFKA_VERSION          4.1.1 (default); 3.9.1 is the fallback. Never 4.0.0.
#   KAFKA_CONTROLLER_PORT  controller listener port (default: a free one)
#   KAFKA_HEAP             JVM heap options (default -Xms64m -Xmx512m)
#   KAFKA_START_TIMEOUT    seconds to wait for metadata (default 90)
#   KAFKA_PARENT_PID       if set, a watchdog kills the broker when this
#                          process dies, so a crashed test leaves no broker
#   VSAMPD_PYTHON          python with confluent_kafka (default: probe)
#   KAFKA_SSL_PORT         if set, an SSL listener on 127.0.0.1:PORT too
#                          (advertised as 127.0.0.1, no client auth)
#   KAFKA_SSL_KEYSTORE     its PEM keystore: PKCS#8 key, then the chain
#   KAFKA_SSL_KEY_PASSWORD the key's password, when it is encrypted
#
# Extra k=v arguments to start are appended to server.properties (later
# lines win), e.g. message.max.bytes=2097152.

set -eu
set -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
CACHE=${VSAMPD_CACHE:-${HOME:-/tmp}/.cache/vsampd}
KDIR=$CACHE/kafka-$KAFKA_VERSION
LIB=$KDIR/lib
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}

die() {
	echo "kafka.sh: $*" >&2
	exit 1
}

if [ "$KAFKA_VERSION" = "4.0.0" ]; then
	# librdkafka 2.0.2 cannot join consumer groups on 4.0.0.
	die "Kafka 4.0.0 is not supported (use 4.1.1 or 3.9.1)"
fi

# A python that has confluent_kafka: Debian's python3-confluent-kafka is
# installed for /usr/bin/python3, which may not be the python3 on PATH.
find_python() {
	local p
	if [ -n "${VSAMPD_PYTHON:-}" ]; then
		echo "$VSAMPD_PYTHON"
		return 0
	fi
	for p in python3 /usr/bin/python3; do
		if command -v "$p" >/dev/null 2>&1 &&
		    "$p" -c 'import confluent_kafka' >/dev/null 2>&1; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# An unused TCP port on 127.0.0.1 (the kernel picks it).
free_port() {
	local py
	py=$(command -v python3 || echo /usr/bin/python3)
	"$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

cmd_deps() {
	local need=""
	command -v java >/dev/null 2>&1 || need="$need default-jre-headless"
	command -v mvn >/dev/null 2>&1 || need="$need maven"
	command -v kcat >/dev/null 2>&1 || need="$need kcat"
	/usr/bin/python3 -c 'import confluent_kafka' >/dev/null 2>&1 ||
	    need="$need python3-confluent-kafka"
	/usr/bin/python3 -c 'import msgpack' >/dev/null 2>&1 ||
	    need="$need python3-msgpack"
	[ -z "$need" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		die "missing Debian packages:$need"
	fi
	echo "kafka.sh: installing$need" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >&2 || {
		apt-get update -q >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >&2
	}
}

# Resolve the jars once; the lib dir is complete only when .complete exists
# and names the same pom and version, so an interrupted fetch is redone.
cmd_fetch() {
	local stamp tmp
	stamp="$KAFKA_VERSION $(cksum <"$HERE/pom.xml")"
	if [ -f "$KDIR/.complete" ] && [ "$(cat "$KDIR/.complete")" = "$stamp" ]; then
		return 0
	fi
	command -v mvn >/dev/null 2>&1 || die "mvn not found (kafka.sh deps)"
	mkdir -p "$KDIR"
	tmp=$(mktemp -d "$KDIR/lib.tmp.XXXXXX")
	if ! (cd "$HERE" && mvn -q -B -Dstyle.color=never -Dkafka.version="$KAFKA_VERSION" \
	    dependency:copy-dependencies -DincludeScope=runtime \
	    -DoutputDirectory="$tmp" >&2); then
		rm -rf "$tmp"
		die "mvn dependency:copy-dependencies failed"
	fi
	[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || {
		rm -rf "$tmp"
		die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
	}
	rm -rf "$LIB"
	mv "$tmp" "$LIB"
	echo "$stamp" >"$KDIR/.complete"
}

cmd_classpath() {
	cmd_fetch
	echo "$LIB"
}

# A Kafka cluster id: 16 random bytes in unpadded base64url, not starting
# with '-' (Kafka's own Uuid.randomUuid() avoids that for CLI use).
cluster_id() {
	local py
	py=$(command -v python3 || echo /usr/bin/python3)
	"$py" -c 'import base64, uuid
while True:
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
}

write_config() {
	local dir=$1 port=$2 cport=$3 ssl="" sslmap=""
	shift 3
	if [ -n "${KAFKA_SSL_PORT:-}" ]; then
		ssl=",SSL://127.0.0.1:$KAFKA_SSL_PORT"
		sslmap=",SSL:SSL"
	fi
	cat >"$dir/server.properties" <<EOF
# Written by tests/kafka/kafka.sh: single node, loopback only, small.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$ssl
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport$ssl
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$sslmap
log.dirs=$dir/data
metadata.log.dir=$dir/meta
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
log.segment.bytes=16777216
message.max.bytes=8388608
replica.fetch.max.bytes=8388608
EOF
	if [ -n "$ssl" ]; then
		cat >>"$dir/server.properties" <<EOF
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_SSL_KEYSTORE
ssl.client.auth=none
EOF
		if [ -n "${KAFKA_SSL_KEY_PASSWORD:-}" ]; then
			echo "ssl.key.password=$KAFKA_SSL_KEY_PASSWORD" \
			    >>"$dir/server.properties"
		fi
	fi
	local kv
	for kv in "$@"; do
		case $kv in
		*=*) echo "$kv" >>"$dir/server.properties" ;;
		*) die "bad property '$kv' (want key=value)" ;;
		esac
	done
	cat >"$dir/log4j2.properties" <<EOF
# Written by tests/kafka/kafka.sh: everything to server.log at INFO.
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = $dir/server.log
appender.file.append = true
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

java_opts() {
	local dir=$1
	# shellcheck disable=SC2086
	echo ${KAFKA_HEAP:--Xms64m -Xmx512m} -XX:+UseSerialGC \
	    -XX:TieredStopAtLevel=1 -Xss512k -Djava.awt.headless=true \
	    -Djava.net.preferIPv4Stack=true \
	    -Dlog4j2.configurationFile="$dir/log4j2.properties" \
	    -Dkafka.logs.dir="$dir"
}

log_tail() {
	local dir=$1
	echo "---- $dir/server.log (tail) ----" >&2
	tail -n 40 "$dir/server.log" >&2 2>/dev/null || true
	echo "---- $dir/kafka.out (tail) ----" >&2
	tail -n 20 "$dir/kafka.out" >&2 2>/dev/null || true
}

# Running, and not a zombie waiting for its (re)parent to reap it.
alive() {
	local st
	[ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

cmd_start() {
	[ $# -ge 2 ] || die "usage: start DIR PORT [key=value ...]"
	local dir=$1 port=$2 cport pid cid t0 now opts
	shift 2
	case $port in '' | *[!0-9]*) die "bad port '$port'" ;; esac
	if [ -n "${KAFKA_SSL_PORT:-}" ]; then
		case $KAFKA_SSL_PORT in
		*[!0-9]*) die "bad KAFKA_SSL_PORT '$KAFKA_SSL_PORT'" ;;
		esac
		[ -r "${KAFKA_SSL_KEYSTORE:-}" ] ||
		    die "KAFKA_SSL_PORT needs a readable KAFKA_SSL_KEYSTORE"
	fi
	command -v java >/dev/null 2>&1 || die "java not found (kafka.sh deps)"
	command -v kcat >/dev/null 2>&1 || die "kcat not found (kafka.sh deps)"
	cmd_fetch
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/kafka.pid" ] && alive "$(cat "$dir/kafka.pid")"; then
		die "a broker already runs from $dir (pid $(cat "$dir/kafka.pid"))"
	fi
	rm -rf "$dir/data" "$dir/meta" "$dir/server.log" "$dir/kafka.out"
	cport=${KAFKA_CONTROLLER_PORT:-$(free_port)}
	while [ "$cport" = "$port" ] || [ "$cport" = "${KAFKA_SSL_PORT:-}" ]; do
		cport=$(free_port)
	done
	write_config "$dir" "$port" "$cport" "$@"
	t0=$(date +%s.%N)
	opts=$(java_opts "$dir")
	cid=$(cluster_id)
	echo "$cid" >"$dir/cluster.id"
	# shellcheck disable=SC2086
	if ! java $opts -cp "$LIB/*" kafka.tools.StorageTool format \
	    --standalone -t "$cid" -c "$dir/server.properties" \
	    >"$dir/format.out" 2>&1; then
		cat "$dir/format.out" >&2
		die "storage format failed"
	fi
	launch "$dir" "$port" "$t0"
}

# Run the broker of a formatted DIR and wait until it serves metadata.
launch() {
	local dir=$1 port=$2 t0=$3 pid now opts
	opts=$(java_opts "$dir")
	# The broker stays in our process group (no setsid), so a signal to
	# the test's group reaches it too; its pid is recorded for cleanup.
	# shellcheck disable=SC2086
	java $opts -cp "$LIB/*" kafka.Kafka "$dir/server.properties" \
	    >>"$dir/kafka.out" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$dir/kafka.pid"
	echo "$port" >"$dir/kafka.port"
	if [ -n "${KAFKA_PARENT_PID:-}" ]; then
		start_watchdog "$dir" "$pid" "$KAFKA_PARENT_PID"
	fi
	while :; do
		if ! alive "$pid"; then
			log_tail "$dir"
			die "broker exited during start-up"
		fi
		if kcat -L -b "127.0.0.1:$port" -m 2 -X socket.timeout.ms=2000 \
		    -X topic.metadata.refresh.interval.ms=-1 2>/dev/null |
		    grep -q '1 brokers'; then
			break
		fi
		now=$(date +%s)
		if [ $((now - ${t0%.*})) -ge "$START_TIMEOUT" ]; then
			log_tail "$dir"
			kill -KILL "$pid" 2>/dev/null || true
			die "broker not ready after ${START_TIMEOUT}s"
		fi
		sleep 0.2
	done
	now=$(date +%s.%N)
	awk -v a="$t0" -v b="$now" -v p="$pid" -v port="$port" 'BEGIN {
		printf "kafka.sh: broker pid %s on 127.0.0.1:%s ready in %.1fs\n",
		    p, port, b - a }' >&2
	echo "BOOTSTRAP 127.0.0.1:$port"
}

# Kill the broker when the test process dies. The watchdog is detached
# from stdio so the caller's pipes close when kafka.sh exits.
start_watchdog() {
	local dir=$1 pid=$2 parent=$3
	(
		trap '' HUP INT
		while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null; do
			sleep 1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			for _ in $(seq 1 100); do
				kill -0 "$pid" 2>/dev/null || exit 0
				sleep 0.2
			done
			kill -KILL "$pid" 2>/dev/null || true
		fi
	) </dev/null >/dev/null 2>&1 &
	echo $! >"$dir/watchdog.pid"
}

# Stop the broker of DIR and start it again on its data (no format): the
# topics, their messages and the committed offsets survive.
cmd_restart() {
	[ $# -eq 1 ] || die "usage: restart DIR"
	local dir port
	dir=$(cd "$1" && pwd)
	[ -f "$dir/kafka.port" ] || die "$dir has no broker to restart"
	port=$(cat "$dir/kafka.port")
	cmd_stop "$dir"
	launch "$dir" "$port" "$(date +%s.%N)"
}

cmd_stop() {
	[ $# -eq 1 ] || die "usage: stop DIR"
	local dir=$1 pid wd i
	[ -f "$dir/kafka.pid" ] || return 0
	pid=$(cat "$dir/kafka.pid")
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do
			alive "$pid" || break
			sleep 0.2
		done
		if alive "$pid"; then
			echo "kafka.sh: broker $pid ignored SIGTERM for 20s; SIGKILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [ -f "$dir/watchdog.pid" ]; then
		wd=$(cat "$dir/watchdog.pid")
		alive "$wd" && kill -TERM "$wd" 2>/dev/null || true
		rm -f "$dir/watchdog.pid"
	fi
	rm -f "$dir/kafka.pid"
}

cmd_topic() {
	[ $# -ge 4 ] && [ $(($# % 2)) -eq 0 ] ||
	    die "usage: topic DIR PORT NAME PARTITIONS [NAME PARTITIONS ...]"
	local dir=$1 port=$2 py
	shift 2
	py=$(find_python) || die "no python with confluent_kafka (kafka.sh deps)"
	"$py" - "127.0.0.1:$port" "$@" <<'EOF'
# Create all topics in one admin request, then wait until every partition
# has a leader, so producers do not race the new metadata.
import sys, time
from confluent_kafka.admin import AdminClient, NewTopic
bs, args = sys.argv[1], sys.argv[2:]
want = {args[i]: int(args[i + 1]) for i in range(0, len(args), 2)}
ac = AdminClient({"bootstrap.servers": bs})
fs = ac.create_topics([NewTopic(t, p, 1) for t, p in want.items()],
                      operation_timeout=30, request_timeout=30)
for t, f in fs.items():
    f.result()
deadline = time.time() + 30
while True:
    md = ac.list_topics(timeout=10)
    ok = all(t in md.topics and md.topics[t].error is None and
             len(md.topics[t].partitions) == p and
             all(pm.leader >= 0 for pm in md.topics[t].partitions.values())
             for t, p in want.items())
    if ok:
        break
    if time.time() > deadline:
        sys.exit("kafka.sh: topics not ready: %s" % sorted(want))
    time.sleep(0.1)
EOF
}

[ $# -ge 1 ] || die "usage: kafka.sh deps|fetch|start|stop|topic|classpath ..."
sub=$1
shift
case $sub in
deps) cmd_deps "$@" ;;
fetch) cmd_fetch "$@" ;;
classpath) cmd_classpath "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
restart) cmd_restart "$@" ;;
topic) cmd_topic "$@" ;;
*) die "unknown command '$sub'" ;;
esac

#!/bin/bash
# Start one KRaft Kafka node from the apache/kafka image's variables: every KAFKA_X_Y=v (but the JVM's
# KAFKA_*_OPTS) becomes x.y=v in server.properties ("__" -> "_", "___" -> "-", as that image does).
# Formats the log folder once (CLUSTER_ID, or a fixed id), then runs kafka.Kafka in the foreground.
set -euo pipefail
CONFIG=/opt/kafka/config/server.properties
: "${KAFKA_LOG_DIRS:=/var/lib/kafka/data}"
export KAFKA_LOG_DIRS
{
    echo "# written by /opt/kafka/bin/entrypoint.sh from the KAFKA_* variables"
    while IFS='=' read -r -d '' name value; do
        case "$name" in
            KAFKA_HEAP_OPTS|KAFKA_OPTS|KAFKA_JVM_PERFORMANCE_OPTS|KAFKA_LOG4J_OPTS|KAFKA_GC_LOG_OPTS|KAFKA_JMX_OPTS) continue ;;
            KAFKA_*) ;;
            *) continue ;;
        esac
        key="${name#KAFKA_}"
        key="$(echo "$key" | tr '[:upper:]' '[:lower:]' | sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')"
        echo "$key=$value"
    done < <(env -0)
} >"$CONFIG"
cat >/opt/kafka/config/log4j2.properties <<'L4J'
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
L4J
CP="/opt/kafka/libs/*"
LOG4J="-Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties"
if [[ ! -f "$KAFKA_LOG_DIRS/meta.properties" ]]; then
    java -Xmx256m $LOG4J -cp "$CP" kafka.tools.StorageTool format -t "${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$CONFIG"
fi
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true $LOG4J ${KAFKA_OPTS:-} -cp "$CP" kafka.Kafka "$CONFIG"

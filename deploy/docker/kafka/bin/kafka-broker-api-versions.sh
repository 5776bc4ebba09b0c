#!/bin/bash
# The compose file's health check (`kafka-broker-api-versions.sh --bootstrap-server HOST:PORT`), without the Kafka
# tools jar: one ApiVersions request (v0) over the Kafka protocol, exit 0 when the broker answers it without error.
set -uo pipefail
server=localhost:9092
while [[ $# -gt 0 ]]; do
    case "$1" in --bootstrap-server) server="$2"; shift 2 ;; *) shift ;; esac
done
host="${server%:*}" port="${server##*:}"
exec 3<>"/dev/tcp/$host/$port" || exit 1
# size 11 | api key 18 (ApiVersions) | version 0 | correlation id 7 | client id "h"
printf '\x00\x00\x00\x0b\x00\x12\x00\x00\x00\x00\x00\x07\x00\x01h' >&3
answer="$(timeout 5 head -c 10 <&3 | od -An -tx1 | tr -d ' \n')"
# size (4 bytes) | correlation id 7 | error code 0
[[ "${answer:8:12}" == "000000070000" ]] || { echo "no ApiVersions answer from $server (${answer:-nothing})" >&2; exit 1; }
echo "$server answers ApiVersions"

#!/bin/sh
# Registers the custom search attributes that workflows/journey.py upserts (idempotent: a name
# already registered is left alone). Run by the `temporal-init` service of docker-compose.yml;
# against an existing cluster run it with TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE set.
set -eu
address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-default}"

tries=0
until temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "namespace $namespace does not exist at $address" >&2
    exit 1
  fi
  sleep 2
done

existing=$(temporal operator search-attribute list --address "$address" --namespace "$namespace")
for spec in RepatriationStage=Keyword Nationality=Keyword Stuck=Bool NextDeadline=Datetime; do
  name=${spec%%=*}
  type=${spec#*=}
  if printf '%s\n' "$existing" | grep -qw "$name"; then
    echo "search attribute $name: registered already"
  else
    temporal operator search-attribute create --address "$address" --namespace "$namespace" \
      --name "$name" --type "$type"
    echo "search attribute $name ($type): registered"
  fi
done

#!/usr/bin/env bash
# Runs bench/quality/run.ts for each line "NAME flags..." of a file, one
# training at a time (the machine is shared): bench/quality/queue.sh FILE
set -u
while read -r name flags; do
  [ -z "$name" ] && continue
  case "$name" in \#*) continue ;; esac
  # shellcheck disable=SC2086
  deno run -A bench/quality/run.ts "$name" $flags
done < "$1"

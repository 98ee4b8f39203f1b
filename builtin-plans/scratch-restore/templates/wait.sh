# wait.sh: the plan's one wait loop. Runs the probe every ${interval}s until it succeeds, for
# at most ${timeout}s. On timeout it says what it waited for, what the probe's last try printed
# (its error: "not found", "connection refused", a TLS failure...), and a diagnosis of the
# component, then exits 1. Inputs (templatefile): what, timeout, interval, probe, diagnose, ready.
set -u
last=$(mktemp)
trap 'rm -f "$last"' EXIT
probe() {
${probe}
}
start=$(date +%s)
tries=0
while :; do
  tries=$((tries + 1))
  if probe >"$last" 2>&1; then
    echo '${replace(ready, "'", "'\\''")}'
    exit 0
  fi
  if [ $(($(date +%s) - start)) -ge ${timeout} ]; then
    {
      echo 'gave up waiting for ${replace(what, "'", "'\\''")} after ${timeout}s ('"$tries"' tries)'
      if [ -s "$last" ]; then
        echo "The last try said:"
        tail -n 20 "$last" | sed 's/^/  /'
      else
        echo "The last try printed nothing."
      fi
      echo "---"
      ${diagnose} 2>&1 | tail -n 30 || true
    } >&2
    exit 1
  fi
  sleep ${interval}
done

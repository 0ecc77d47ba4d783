#!/bin/bash
# Runs the engine benchmark's persisted examples as on a slower host: PostgreSQL's
# processes and the benchmark share one cgroup (v1 `cpu` controller) whose
# quota is FRACTION of both cores, which slows the raw INSERT+UPDATE baseline
# (the issue's reference machine ran it at about 4,000 tx/s). The quota stalls
# every process of the group once it is spent until the next PERIOD: a harsher
# load than a slower processor, the more so the longer the period
# (BENCHMARKS.md, session 26). Needs root and PostgreSQL on this machine.
#
# DATABASE is postgres (the default) or sqlite; the raw rate printed is that
# database's one INSERT + one UPDATE per transaction.
#
# usage: scripts/emulated-slow-host.sh BINARY FRACTION RUNS [PERIOD_US [DATABASE]]
#   e.g. scripts/emulated-slow-host.sh target/release/ticketflower 0.42 5 2500
set -euo pipefail
bin=$1 fraction=$2 runs=$3 period=${4:-2500} database=${5:-postgres}
group=/sys/fs/cgroup/cpu/ticketflower-slow
url=postgres://postgres@127.0.0.1:5432/tfbench
quota=$(python3 -c "print(int(2 * $period * $fraction))")
mkdir -p "$group"
restore() {
    for pid in $(cat "$group/cgroup.procs"); do echo "$pid" > /sys/fs/cgroup/cpu/cgroup.procs 2>/dev/null || true; done
    rmdir "$group"
}
trap restore EXIT
echo -1 > "$group/cpu.cfs_quota_us"
echo "$period" > "$group/cpu.cfs_period_us"
echo "$quota" > "$group/cpu.cfs_quota_us"
for pid in $(pgrep -u postgres); do echo "$pid" > "$group/cgroup.procs"; done
echo $$ > "$group/cgroup.procs"
for _ in $(seq "$runs"); do
    psql -U postgres -h 127.0.0.1 -d test -qc 'DROP DATABASE IF EXISTS tfbench' -c 'CREATE DATABASE tfbench' 2>/dev/null
    rm -f /tmp/tfbench-slow.db /tmp/tfbench-slow.db-wal /tmp/tfbench-slow.db-shm
    out=$("$bin" bench --seconds 3 --instances 8192 --concurrency 64 --postgres "$url" \
        --sqlite-path /tmp/tfbench-slow.db --only "$database,examples" 2>&1)
    raw=$(grep -oE 'raw INSERT\+UPDATE tx +[0-9]+' <<<"$out" | grep -oE '[0-9]+$')
    examples=$(grep -E 'venue|customer|order' <<<"$out" | grep -oE '[0-9]+ completions' | grep -oE '[0-9]+' | tr '\n' ' ')
    echo "$(date -u +%T) $database, period ${period} µs, ${fraction} of the cores: raw ${raw} tx/s | venue-map customer-support order-fulfilment: ${examples}"
done
psql -U postgres -h 127.0.0.1 -d test -qc 'DROP DATABASE IF EXISTS tfbench' 2>/dev/null
rm -f /tmp/tfbench-slow.db /tmp/tfbench-slow.db-wal /tmp/tfbench-slow.db-shm

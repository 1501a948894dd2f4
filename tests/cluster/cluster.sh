#!/usr/bin/env bash
# Start/stop a one-node SLURM cluster (munged + slurmctld + slurmd) on loopback,
# as root, without systemd. Daemons run in the foreground as background jobs of
# this script and are stopped by the PIDs recorded here, never by name.
#
#   cluster.sh start   render slurm.conf, start daemons, wait until the node is idle
#   cluster.sh stop    stop the daemons this script started (safe to call twice)
#   cluster.sh env     print `export SLURM_CONF=...` for the running cluster
#
# Settings (environment): CLUSTER_RUN_DIR (default /tmp/ketamine-bzd-slurm),
# SLURM_PARTITION (default "debug"), SLURMCTLD_PORT / SLURMD_PORT (6817/6818),
# CLUSTER_CPUS (default: nproc).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run_dir="${CLUSTER_RUN_DIR:-/tmp/ketamine-bzd-slurm}"
partition="${SLURM_PARTITION:-debug}"
conf="$run_dir/slurm.conf"
# The jobstep plugin strips SLURM_* (including SLURM_CONF) from the environment
# of its inner srun, so srun inside a job only finds the default path.
etc_conf=/etc/slurm/slurm.conf

log() { echo "cluster.sh: $*" >&2; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

# Stop one daemon by the PID we recorded; escalate to SIGKILL after a grace period.
stop_pid_file() {
    local name="$1" file="$2" pid i
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do pid_alive "$pid" || break; sleep 0.1; done
        if pid_alive "$pid"; then
            log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$file"
}

munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

render_conf() {
    local node cpus mem_total mem
    node="$(hostname -s)"
    cpus="${CLUSTER_CPUS:-$(nproc)}"
    mem_total="$(free -m | awk '/^Mem:/ {print $2}')"
    # Leave headroom: slurmd drains a node whose RealMemory exceeds what it sees.
    mem=$(( mem_total * 9 / 10 ))
    sed -e "s|@NODENAME@|$node|g" \
        -e "s|@CPUS@|$cpus|g" \
        -e "s|@REAL_MEMORY_MB@|$mem|g" \
        -e "s|@PARTITION@|$partition|g" \
        -e "s|@RUN_DIR@|$run_dir|g" \
        -e "s|@CTLD_PORT@|${SLURMCTLD_PORT:-6817}|g" \
        -e "s|@SLURMD_PORT@|${SLURMD_PORT:-6818}|g" \
        "$here/slurm.conf.in" > "$conf"
}

start() {
    if [ "$(id -u)" -ne 0 ]; then
        log "must run as root (slurmd runs jobs as their submitting user)"; exit 1
    fi
    if [ -f "$run_dir/slurmctld.daemon.pid" ] && pid_alive "$(cat "$run_dir/slurmctld.daemon.pid")"; then
        log "a cluster from $run_dir is already running; run '$0 stop' first"; exit 1
    fi
    mkdir -p "$run_dir/state" "$run_dir/spool"
    rm -f "$run_dir"/*.log
    render_conf
    if [ -e "$etc_conf" ] || [ -L "$etc_conf" ]; then
        target="$(readlink "$etc_conf" || true)"
        # a link left by an earlier test run that was killed before it cleaned up is ours too
        if [ "$target" != "$conf" ] && [[ "$target" != */kbzd-test-cluster.*/slurm/slurm.conf ]]; then
            log "$etc_conf exists and is not ours; refusing to replace a real SLURM configuration"
            exit 1
        fi
        ln -sfn "$conf" "$etc_conf"
    else
        mkdir -p "$(dirname "$etc_conf")"
        ln -s "$conf" "$etc_conf"
    fi

    if munge_works; then
        log "using the munged that is already running"
    else
        install -d -o munge -g munge -m 0755 /run/munge
        # setpriv execs munged, so $! is munged itself (runuser would stay as parent).
        setpriv --reuid=munge --regid=munge --init-groups \
            /usr/sbin/munged --foreground > "$run_dir/munged.log" 2>&1 &
        echo $! > "$run_dir/munged.daemon.pid"
        local i
        for i in $(seq 1 50); do munge_works && break; sleep 0.1; done
        munge_works || { log "munged did not come up:"; cat "$run_dir/munged.log" >&2; exit 1; }
    fi

    # -D: stay in the foreground so $! is the daemon; -i: ignore stale state.
    SLURM_CONF="$conf" /usr/sbin/slurmctld -D -i -f "$conf" > "$run_dir/slurmctld.out" 2>&1 &
    echo $! > "$run_dir/slurmctld.daemon.pid"
    SLURM_CONF="$conf" /usr/sbin/slurmd -D -f "$conf" > "$run_dir/slurmd.out" 2>&1 &
    echo $! > "$run_dir/slurmd.daemon.pid"

    local deadline=$(( SECONDS + 60 )) state=""
    while [ $SECONDS -lt $deadline ]; do
        state="$(SLURM_CONF="$conf" sinfo -h -N -o %T 2>/dev/null | head -1 || true)"
        [ "$state" = "idle" ] && break
        for d in slurmctld slurmd; do
            if ! pid_alive "$(cat "$run_dir/$d.daemon.pid")"; then
                log "$d exited during startup:"; tail -n 30 "$run_dir/$d.log" "$run_dir/$d.out" >&2 || true
                exit 1
            fi
        done
        sleep 0.5
    done
    if [ "$state" != "idle" ]; then
        log "node not idle after 60 s (state: '${state:-none}')"
        SLURM_CONF="$conf" scontrol show node >&2 || true
        tail -n 30 "$run_dir/slurmctld.log" "$run_dir/slurmd.log" >&2 || true
        exit 1
    fi
    log "cluster up: node $(hostname -s), partition $partition, SLURM_CONF=$conf"
}

stop() {
    # slurmd first so that it does not spin trying to reach the controller.
    stop_pid_file slurmd "$run_dir/slurmd.daemon.pid"
    stop_pid_file slurmctld "$run_dir/slurmctld.daemon.pid"
    stop_pid_file munged "$run_dir/munged.daemon.pid"
    if [ "$(readlink "$etc_conf" 2>/dev/null || true)" = "$conf" ]; then
        rm -f "$etc_conf"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$conf" ;;
    *) echo "usage: $0 start|stop|env" >&2; exit 2 ;;
esac

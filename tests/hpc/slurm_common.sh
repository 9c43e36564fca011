# tests/hpc/slurm_common.sh - process helpers shared by slurm_up.sh and slurm_down.sh.
# Sourced, not run. Callers define say() first.

# A PID counts as running only if it is not a zombie: PID 1 on CI machines may
# reap orphans seconds late, and kill -0 succeeds on a zombie.
running() {
  local state
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# pidfile expected-comm -> the pid, if that process is alive and really the daemon.
daemon_pid() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(tr -dc '0-9' <"$1")
  [ -n "$pid" ] && running "$pid" || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  echo "$pid"
}

# pidfile expected-comm: SIGTERM the daemon (SIGKILL after 10 s), then drop its pidfile.
stop_daemon() {
  local pid i
  if pid=$(daemon_pid "$1" "$2"); then
    say "stopping $2 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then
      say "$2 ($pid) ignored SIGTERM for 10 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  else
    say "$2: not running (nothing to stop)"
  fi
  rm -f "$1"
}

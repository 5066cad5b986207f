# shellcheck shell=bash
# engines.sh: runs K separate Docker engines on this one machine, each in its own network
# namespace, joined by an underlay, so that multi-node networking (VXLAN overlays, gateways,
# DNS) can be tested without K machines. Meant to be `source`d by test scripts running as root;
# it is `set -euo pipefail` friendly (every function returns non-zero on failure and never
# exits the caller's shell by itself).
#
# Layout for a run named RUN (short, e.g. "sh$$": interface names are RUN-br and RUN-vI, which
# must fit Linux's 15 characters, so RUN may be at most 11 characters with up to 99 engines):
#   host bridge  RUN-br       10.213.X.1/24, the test driver's end of the underlay
#   netns        RUN-eI       eth0 = 10.213.X.(10+I)/24, default route via 10.213.X.1, lo up;
#                             the host end of its veth, RUN-vI, is a port of RUN-br
#   dockerd      /tmp/RUN/eI  sock, pid, dockerd.log, root/ (data-root), exec/ (exec-root);
#                             --bip 172.31.I.1/24, --cgroup-parent /RUN-eI
# X is derived from RUN (a checksum) and moved on while some host address or route already uses
# 10.213.X.0/24, so that parallel runs do not clash; it is kept in /tmp/RUN/underlay.
#
# Usage:
#   source scripts/lib/engines.sh
#   RUN=sh$$
#   trap 'engines_down "$RUN"' EXIT    # set the trap first: it also cleans a half-made run
#   engines_up "$RUN" 3
#   engines_load_images "$RUN" shoal-app:1
#   engine_docker 1 run -d --name a shoal-app:1
#   engine_exec 2 ping -c1 "$(engine_ip 1)"
#
# Functions:
#   engines_up RUN K               make the underlay and start K engines (waits for each)
#   engines_load_images RUN IMG... copy images from the machine's engine into every engine
#   engines_down RUN               remove everything of RUN; idempotent, fine in an EXIT trap
#   engine_ns I / engine_dir I / engine_sock I / engine_ip I
#                                  netns name, state dir, docker socket path, underlay IP
#   engine_exec I CMD...           run CMD inside engine I's network namespace
#   engine_docker I ARGS...        run the docker CLI against engine I
#   engine_container_exec I NAME CMD...
#                                  run a host binary (ip, nft, python3, ...) in the network
#                                  namespace of container NAME on engine I
# The helpers use ENGINES_RUN (set by engines_up, or set it yourself to reach a running RUN).
# Tunables: ENGINES_START_TIMEOUT (seconds per engine, default 90), ENGINES_STOP_TIMEOUT
# (seconds before SIGKILL, default 20), ENGINES_LOG (1 to log each step to stderr).

ENGINES_RUN="${ENGINES_RUN:-}"
ENGINES_START_TIMEOUT="${ENGINES_START_TIMEOUT:-90}"
ENGINES_STOP_TIMEOUT="${ENGINES_STOP_TIMEOUT:-20}"

_engines_log() {
  if [ "${ENGINES_LOG:-0}" = 1 ]; then echo "engines: $*" >&2; fi
  return 0
}

_engines_err() {
  echo "engines: error: $*" >&2
  return 1
}

# A run's state lives under /tmp/RUN; refusing odd names keeps every later `rm -rf` and every
# process match confined to that directory.
_engines_check_run() {
  local run="${1:-}"
  if [[ ! "$run" =~ ^[A-Za-z0-9][A-Za-z0-9_]*$ ]]; then
    _engines_err "run name '$run' must be letters, digits and _ (no '-' or '/')"
    return 1
  fi
  return 0
}

_engines_need_run() {
  if [ -z "${ENGINES_RUN:-}" ]; then
    _engines_err "ENGINES_RUN is not set (call engines_up first or set it)"
    return 1
  fi
  return 0
}

engine_ns() { _engines_need_run && echo "${ENGINES_RUN}-e$1"; }
engine_dir() { _engines_need_run && echo "/tmp/${ENGINES_RUN}/e$1"; }
engine_sock() { _engines_need_run && echo "/tmp/${ENGINES_RUN}/e$1/sock"; }

engine_ip() {
  _engines_need_run || return 1
  local x
  x=$(cat "/tmp/${ENGINES_RUN}/underlay" 2>/dev/null) || { _engines_err "no underlay for ${ENGINES_RUN}"; return 1; }
  echo "10.213.${x}.$((10 + $1))"
}

# The host's end of the underlay (the bridge address), for scripts that want to reach the host.
engines_host_ip() {
  _engines_need_run || return 1
  local x
  x=$(cat "/tmp/${ENGINES_RUN}/underlay" 2>/dev/null) || { _engines_err "no underlay for ${ENGINES_RUN}"; return 1; }
  echo "10.213.${x}.1"
}

# `nsenter --net` and not `ip netns exec`: the latter remounts /sys in a new mount namespace,
# which hides the cgroup mounts dockerd and runc need ("Devices cgroup isn't mounted").
engine_exec() {
  local i="$1"
  shift
  _engines_need_run || return 1
  nsenter --net="/run/netns/${ENGINES_RUN}-e$i" -- "$@"
}

engine_docker() {
  local i="$1"
  shift
  _engines_need_run || return 1
  docker -H "unix:///tmp/${ENGINES_RUN}/e$i/sock" "$@"
}

# Containers have their own network namespace inside the engine's: enter it through the pid of
# the container's first process, which keeps the host's binaries (the image may have none).
engine_container_exec() {
  local i="$1" name="$2" pid
  shift 2
  pid=$(engine_docker "$i" inspect -f '{{.State.Pid}}' "$name") || return 1
  if [ -z "$pid" ] || [ "$pid" = 0 ]; then
    _engines_err "container $name on engine $i is not running"
    return 1
  fi
  nsenter --net="/proc/$pid/ns/net" -- "$@"
}

# Picks the underlay's third octet from the run name, stepping past any /24 the host already
# has an address or route in (a parallel run, or anything else on the machine).
_engines_pick_octet() {
  local run="$1" x n used
  x=$(( $(printf '%s' "$run" | cksum | cut -d' ' -f1) % 250 + 1 ))
  used=$( (ip -4 -o addr show; ip -4 route show) 2>/dev/null || true)
  for n in $(seq 1 250); do
    if ! grep -q "10\.213\.${x}\." <<<"$used"; then
      echo "$x"
      return 0
    fi
    x=$(( x % 250 + 1 ))
  done
  _engines_err "no free 10.213.X.0/24 for the underlay"
  return 1
}

engines_up() {
  local run="${1:-}" k="${2:-}" i x ns dir hostv br
  _engines_check_run "$run" || return 1
  if [[ ! "$k" =~ ^[0-9]+$ ]] || [ "$k" -lt 1 ] || [ "$k" -gt 99 ]; then
    _engines_err "engines_up RUN K: K must be 1..99, got '$k'"
    return 1
  fi
  br="${run}-br"
  if [ $(( ${#run} + 1 + 1 + ${#k} )) -gt 15 ]; then
    _engines_err "run name '$run' too long: interface ${run}-v$k would exceed 15 characters"
    return 1
  fi
  if [ -e "/tmp/$run" ] || ip link show "$br" >/dev/null 2>&1; then
    _engines_err "run $run already exists (engines_down $run first)"
    return 1
  fi
  ENGINES_RUN="$run"
  mkdir -p "/tmp/$run"
  x=$(_engines_pick_octet "$run") || return 1
  echo "$x" >"/tmp/$run/underlay"
  echo "{}" >"/tmp/$run/empty.json"
  _engines_log "run $run: underlay 10.213.$x.0/24 on bridge $br"

  ip link add "$br" type bridge || return 1
  ip addr add "10.213.$x.1/24" dev "$br" || return 1
  ip link set "$br" up || return 1
  # The machine's own dockerd sets the host FORWARD policy to DROP, and br_netfilter passes
  # bridged frames through iptables FORWARD: without this rule the engines cannot reach each
  # other across the host bridge (the host itself still reaches them).
  iptables -w -I FORWARD -i "$br" -o "$br" -m comment --comment "shoal-engines $run" -j ACCEPT || return 1

  for i in $(seq 1 "$k"); do
    ns="${run}-e$i"
    hostv="${run}-v$i"
    dir="/tmp/$run/e$i"
    mkdir -p "$dir/root" "$dir/exec"
    ip netns add "$ns" || return 1
    ip link add "$hostv" type veth peer name "${run}-i$i" || return 1
    ip link set "${run}-i$i" netns "$ns" || return 1
    ip link set "$hostv" master "$br" up || return 1
    engine_exec "$i" ip link set "${run}-i$i" name eth0 || return 1
    engine_exec "$i" ip addr add "10.213.$x.$((10 + i))/24" dev eth0 || return 1
    engine_exec "$i" ip link set lo up || return 1
    engine_exec "$i" ip link set eth0 up || return 1
    engine_exec "$i" ip route add default via "10.213.$x.1" || return 1
    # The empty --config-file keeps /etc/docker/daemon.json (data-root, storage-driver) from
    # clashing with the flags. --cgroup-parent gives each engine's containers their own cgroup
    # so that engines_down can find and kill them even when dockerd is gone. setsid and the
    # redirections detach dockerd from the caller's terminal and pipes (a test whose output is
    # piped would otherwise never see EOF).
    _engines_log "starting dockerd $i in $ns"
    setsid nsenter --net="/run/netns/$ns" -- dockerd \
      --config-file "/tmp/$run/empty.json" \
      --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/pid" \
      -H "unix://$dir/sock" --storage-driver fuse-overlayfs \
      --bip "172.31.$i.1/24" --cgroup-parent "/${run}-e$i" \
      </dev/null >"$dir/dockerd.log" 2>&1 &
    echo "$!" >"$dir/nsenter.pid"
  done

  # The engines start together (each takes a few seconds) and are awaited one by one.
  for i in $(seq 1 "$k"); do
    _engines_wait_engine "$run" "$i" || return 1
  done
  _engines_log "run $run: $k engines up"
  return 0
}

_engines_wait_engine() {
  local run="$1" i="$2" dir deadline pid
  dir="/tmp/$run/e$i"
  pid=$(cat "$dir/nsenter.pid")
  deadline=$(( $(date +%s) + ENGINES_START_TIMEOUT ))
  while ! docker -H "unix://$dir/sock" info >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      _engines_err "dockerd $i of $run exited while starting; tail of $dir/dockerd.log:"
      tail -n 30 "$dir/dockerd.log" >&2 || true
      return 1
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      _engines_err "dockerd $i of $run did not answer within ${ENGINES_START_TIMEOUT}s; tail of $dir/dockerd.log:"
      tail -n 30 "$dir/dockerd.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  _engines_log "dockerd $i answers on $dir/sock"
  return 0
}

engines_load_images() {
  local run="${1:-}" img dir
  shift || true
  _engines_check_run "$run" || return 1
  if [ "$#" -eq 0 ]; then
    _engines_err "engines_load_images RUN IMAGE...: no image given"
    return 1
  fi
  for dir in /tmp/"$run"/e*/; do
    [ -S "${dir}sock" ] || continue
    for img in "$@"; do
      _engines_log "loading $img into ${dir}sock"
      docker save "$img" | docker -H "unix://${dir}sock" load -q >/dev/null || {
        _engines_err "loading $img into ${dir}sock failed"
        return 1
      }
    done
  done
  return 0
}

# The pids of every process that belongs to an engine of RUN: started with a path under
# /tmp/RUN/ (dockerd, its containerd, the shims), living in an engine's network namespace
# (dockerd, anything a test started with engine_exec), or in an engine's container cgroup
# (container processes, which a killed shim leaves behind). Never this shell or its parents.
_engines_pids() {
  local run="$1" p ns_ino cmd inos="" f
  local -A skip=()
  p=$BASHPID
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    skip[$p]=1
    p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
  done
  for f in /run/netns/"$run"-e*; do
    [ -e "$f" ] || continue
    ns_ino=$(stat -L -c %i "$f" 2>/dev/null || true)
    [ -n "$ns_ino" ] && inos="$inos net:[$ns_ino]"
  done
  {
    for p in /proc/[0-9]*; do
      p=${p#/proc/}
      [ -n "${skip[$p]:-}" ] && continue
      cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" || true)
      if [[ "$cmd" == *"/tmp/$run/"* ]]; then
        echo "$p"
        continue
      fi
      if [ -n "$inos" ]; then
        ns_ino=$(readlink "/proc/$p/ns/net" 2>/dev/null || true)
        if [ -n "$ns_ino" ] && [[ " $inos " == *" $ns_ino "* ]]; then
          echo "$p"
        fi
      fi
    done
    for f in /sys/fs/cgroup/pids/"$run"-e*; do
      [ -d "$f" ] || continue
      find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null || true
    done
  } | sort -un | while read -r p; do
    [ -n "${skip[$p]:-}" ] || echo "$p"
  done
}

engines_down() {
  local run="${1:-}" dir pid deadline pids m d f ns
  _engines_check_run "$run" || return 1
  _engines_log "tearing down $run"

  # First the polite way: containers removed by their own engine, then each dockerd stopped
  # with TERM (it stops its containerd itself). Everything is bounded by timeouts so that a
  # wedged engine cannot hang an EXIT trap.
  for dir in /tmp/"$run"/e*/; do
    [ -d "$dir" ] || continue
    if [ -S "${dir}sock" ]; then
      local ids
      ids=$(timeout 10 docker -H "unix://${dir}sock" ps -aq 2>/dev/null || true)
      if [ -n "$ids" ]; then
        # shellcheck disable=SC2086
        timeout 30 docker -H "unix://${dir}sock" rm -f $ids >/dev/null 2>&1 || true
      fi
    fi
    pid=$(cat "${dir}pid" 2>/dev/null || cat "${dir}nsenter.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  deadline=$(( $(date +%s) + ENGINES_STOP_TIMEOUT ))
  for dir in /tmp/"$run"/e*/; do
    [ -d "$dir" ] || continue
    pid=$(cat "${dir}pid" 2>/dev/null || cat "${dir}nsenter.pid" 2>/dev/null || true)
    [ -n "$pid" ] || continue
    while kill -0 "$pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do
      sleep 0.2
    done
  done

  # Then the sure way: whatever of RUN still runs (a stuck dockerd, an orphaned containerd or
  # shim, container processes, test helpers in a netns) gets TERM, then KILL.
  pids=$(_engines_pids "$run" || true)
  if [ -n "$pids" ]; then
    _engines_log "terminating leftover pids: $(echo $pids)"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    sleep 1
    pids=$(_engines_pids "$run" || true)
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    sleep 0.3
  fi

  # Mounts left under /tmp/RUN (fuse-overlayfs layers, netns bind mounts, shm): lazy unmount,
  # deepest first, so that nothing keeps the directory busy and rm cannot descend into a mount.
  for _ in 1 2 3; do
    m=$(awk -v p="/tmp/$run/" 'index($5, p) == 1 || $5 == "/tmp/'"$run"'" {print $5}' /proc/self/mountinfo | sort -r)
    [ -n "$m" ] || break
    while read -r d; do
      umount -l "$d" 2>/dev/null || true
    done <<<"$m"
  done

  # The engines' container cgroups (one directory per controller; children before parents).
  for f in /sys/fs/cgroup/*/"$run"-e*; do
    [ -d "$f" ] || continue
    find "$f" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done

  for f in /run/netns/"$run"-e*; do
    [ -e "$f" ] || continue
    ns=${f#/run/netns/}
    ip netns del "$ns" 2>/dev/null || true
  done
  # The host ends of the veths normally go with their netns; a half-made run may have some
  # still in the host (never moved, or the netns creation failed).
  for f in /sys/class/net/"$run"-v* /sys/class/net/"$run"-i*; do
    [ -e "$f" ] || continue
    ip link del "${f#/sys/class/net/}" 2>/dev/null || true
  done
  ip link del "${run}-br" 2>/dev/null || true
  while iptables -w -D FORWARD -i "${run}-br" -o "${run}-br" -m comment --comment "shoal-engines $run" -j ACCEPT 2>/dev/null; do :; done

  if [ -d "/tmp/$run" ]; then
    if awk -v p="/tmp/$run/" 'index($5, p) == 1 {found=1} END {exit !found}' /proc/self/mountinfo; then
      _engines_err "mounts remain under /tmp/$run; removing only what is on its own file system"
    fi
    rm -rf --one-file-system "/tmp/$run" 2>/dev/null || true
  fi
  if [ "${ENGINES_RUN:-}" = "$run" ]; then ENGINES_RUN=""; fi
  _engines_log "run $run down"
  return 0
}

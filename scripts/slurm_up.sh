#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for `longdep grid NAME --launcher slurm` and its test
# (tests/test_slurm_cluster.py). Run as root: `make slurm-up` (or scripts/slurm_up.sh).
#
# Where `sbatch` is missing it installs Debian's slurmctld, slurmd, slurm-client and munge (apt-get),
# writes a minimal /etc/slurm/slurm.conf (one node with this machine's cores and memory,
# proctrack/linuxproc, auth/munge, one default partition), starts munged, slurmctld and slurmd, and
# waits until `sinfo` shows the node idle (or busy with jobs). Idempotent: while the cluster is up and its slurm.conf
# unchanged a second call does nothing; daemons that are installed but stopped are started again.
# A cluster this script did not set up (a slurm.conf without its first line) is left alone.
#
# Nothing is confined or reserved: no cgroups, no CPU binding, no accounting database. Jobs share
# the cores with every other process on the machine, at the nice value of the command that
# submitted them (`nice longdep grid ...` keeps a grid out of the way of other work).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by longdep scripts/slurm_up.sh"

say() { echo "slurm-up: $*"; }
die() { echo "slurm-up: $*" >&2; exit 1; }
# nodes that answer and take jobs (idle, or busy with some)
nodes_up() { timeout 10 sinfo -h -N -r -t idle,mixed,allocated -o '%N %t' 2>/dev/null | grep .; }
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ -f "$CONF" ] && [ "$(head -1 "$CONF")" != "$MARK" ]; then
    nodes_up >/dev/null || die "$CONF was not written by this script and sinfo shows no usable node; left alone"
    say "a cluster this script did not set up answers: $(nodes_up | tr '\n' ' ')"
    exit 0
fi

start=$(date +%s)
if ! command -v sbatch >/dev/null; then
    [ "$(id -u)" -eq 0 ] || die "sbatch is missing; installing SLURM needs root (sudo make slurm-up)"
    export DEBIAN_FRONTEND=noninteractive
    pkgs=(slurmctld slurmd slurm-client munge)
    apt-cache show "${pkgs[@]}" >/dev/null 2>&1 || apt-get update -q >/dev/null
    blocker=""  # keep the packages' own start-up scripts from starting daemons before slurm.conf exists
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        blocker=/usr/sbin/policy-rc.d
        trap 'rm -f "$blocker"' EXIT
        printf '#!/bin/sh\nexit 101\n' > "$blocker"
        chmod 755 "$blocker"
    fi
    say "installing ${pkgs[*]}"
    apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
    if [ -n "$blocker" ]; then rm -f "$blocker"; fi
fi

# One node, named and sized as `slurmd -C` sees this machine, reached over loopback.
host=$(hostname -s)
node=$(slurmd -C | head -1 | sed "s/^NodeName=[^ ]*/NodeName=$host NodeAddr=127.0.0.1/")
cpus=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<< "$node")
mem=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<< "$node")
conf="$MARK
ClusterName=longdep
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( mem / cpus ))
PropagatePrioProcess=1
ReturnToService=2
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
$node State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP"

changed=0
[ "$conf" = "$(cat "$CONF" 2>/dev/null)" ] || changed=1
if [ "$changed" -eq 0 ] && running /run/slurmctld.pid && running /run/slurmd.pid && nodes_up >/dev/null; then
    say "up: $(nodes_up | tr '\n' ' ')"
    exit 0
fi
[ "$(id -u)" -eq 0 ] || die "the cluster is down or its slurm.conf out of date; starting it needs root"
mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
if [ "$changed" -eq 1 ]; then
    printf '%s\n' "$conf" > "$CONF.new" && mv "$CONF.new" "$CONF"
    say "wrote $CONF"
fi

if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    [ -f /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
    say "starting munged"
    runuser -u munge -- /usr/sbin/munged
fi
for daemon in slurmctld slurmd; do
    pidfile=/run/$daemon.pid
    if [ "$changed" -eq 1 ] && running "$pidfile"; then  # a new slurm.conf: restart to read it
        kill "$(cat "$pidfile")"
        for _ in $(seq 100); do running "$pidfile" || break; sleep 0.1; done
    fi
    if ! running "$pidfile"; then
        say "starting $daemon"
        "/usr/sbin/$daemon"
    fi
done

for _ in $(seq 60); do
    if nodes_up >/dev/null; then
        say "up in $(( $(date +%s) - start ))s: $(sinfo -h -N -o '%N %t, %c CPUs, %m MB')"
        exit 0
    fi
    if sinfo -h -N -t down,drained -o %N 2>/dev/null | grep -q .; then  # left down by an earlier run
        scontrol update NodeName="$host" State=RESUME 2>/dev/null || true
    fi
    sleep 0.5
done
die "no idle node after 30s: see /var/log/slurm/slurmctld.log and /var/log/slurm/slurmd.log"

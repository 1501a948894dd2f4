#!/usr/bin/env bash
# Install SLURM (slurmctld, slurmd, client) and MUNGE from Debian packages.
# Idempotent: does nothing when the binaries are already present. Needs root.
set -euo pipefail

need=()
for bin in slurmctld slurmd sbatch munged; do
    command -v "$bin" >/dev/null 2>&1 || need+=("$bin")
done
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: missing ${need[*]} and not root; install slurmctld slurmd slurm-client munge yourself" >&2
    exit 1
fi
echo "install.sh: installing slurmctld slurmd slurm-client munge (missing: ${need[*]})"
export DEBIAN_FRONTEND=noninteractive
# No init system here: keep maintainer scripts from trying to start services.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod +x "$policy"
    created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null

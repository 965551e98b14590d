#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, with accounting (sacct, which submitit polls): what
# benchmarks/slurm_check.py runs against. Debian/Ubuntu, as root, no systemd needed:
#   bash benchmarks/slurm_one_node.sh          # installs slurmctld, slurmd, slurmdbd, munge, MariaDB; starts them
# Safe to run again: it stops what it started before and writes the same config.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 2; }
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurmdbd slurm-client munge mariadb-server >/dev/null

node=$(hostname -s)
cpus=$(nproc)
memory_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 2048 ))
pkill -x slurmctld || true; pkill -x slurmd || true; pkill -x slurmdbd || true
mkdir -p /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /run/mysqld
chown mysql:mysql /run/mysqld
[ -f /etc/munge/munge.key ] || mungekey -c
chown munge:munge /etc/munge/munge.key /run/munge
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged
pgrep -x mariadbd >/dev/null || pgrep -x mysqld >/dev/null || (nohup mysqld_safe >/var/log/slurm/mysqld.log 2>&1 &)
for _ in $(seq 30); do mysql -u root -e "select 1" >/dev/null 2>&1 && break; sleep 1; done
mysql -u root -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
  CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-one-node';
  ALTER USER 'slurm'@'localhost' IDENTIFIED BY 'slurm-one-node';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

cat > /etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm-one-node
StorageLoc=slurm_acct_db
EOF
chmod 600 /etc/slurm/slurmdbd.conf

# Processes tracked by /proc and no cgroups: works in a container; SelectType gives each job its CPUs and memory.
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=harness
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
MpiDefault=none
NodeName=$node CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

slurmdbd
for _ in $(seq 30); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 1; done
sacctmgr -i add cluster harness >/dev/null 2>&1 || true
slurmctld
slurmd
for _ in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo
srun hostname

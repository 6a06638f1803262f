#!/usr/bin/env bash
# The main job: builds tiermem, then runs an unmodified pandas/numpy ETL job
# under it with the built-in default policy and a DRAM budget smaller than
# the job, so what does not fit spills to an NVMe-backed file tier. Ends
# with the table of what went where.
#   scripts/demo.sh [--dram-budget SIZE] [--nvme-dir DIR] [-- job args]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
budget=512MiB
nvme_dir=/var/tmp
while (($#)); do
  case "$1" in
    --dram-budget) budget=$2; shift 2 ;;
    --nvme-dir) nvme_dir=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
bash scripts/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" >/dev/null
echo "+ tiermem run --dram-budget $budget --nvme-dir $nvme_dir -- python3 examples/etl_job.py $*" >&2
exec "$BUILD_DIR/tools/tiermem" run --dram-budget "$budget" --nvme-dir "$nvme_dir" -- \
  /usr/bin/python3 examples/etl_job.py "$@"

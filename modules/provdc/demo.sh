#!/usr/bin/env bash
# The main job, run by `bash quickstart.sh demo`: each step is what an operator would type.
set -euo pipefail
TOPOLOGY=${TOPOLOGY:-inventory/soctrang/topology.yml}

provdc validate "$TOPOLOGY"
provdc plan "$TOPOLOGY"

# The local lab: the small profile of this topology as real hosts (root, systemd-nspawn),
# with its inventory in inventory/lab/. It stays up for you to explore: `provdc lab status`,
# `provdc lab ssh HOST`, `ansible all -m ping`; `provdc lab down` removes it.
provdc lab up --topology "$TOPOLOGY"

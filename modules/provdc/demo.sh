#!/usr/bin/env bash
# The main job, run by `bash quickstart.sh demo`: each step is what an operator would type.
set -euo pipefail
TOPOLOGY=${TOPOLOGY:-inventory/soctrang/topology.yml}

provdc validate "$TOPOLOGY"
provdc plan "$TOPOLOGY"

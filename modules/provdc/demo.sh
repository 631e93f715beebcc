#!/usr/bin/env bash
# The main job, run by `bash quickstart.sh demo`: each step is what an operator would type.
#   1. validate the province's topology and print its address plan;
#   2. bring up the local lab (the small profile of that topology as real hosts);
#   3. converge every lab host with the one playbook ops teams run (site.yml);
#   4. prove the zone segmentation with real traffic (every allowed flow opens, every
#      forbidden pair stays closed);
#   5. audit every host against the control catalogue, as an auditor would;
#   6. draft the LGSP's security-level dossier (Decree 85/2016) from the topology and that
#      audit, beside the reports (the network diagram is written with the address plan).
# The lab stays up for you to explore (`provdc lab status`, `provdc lab ssh HOST`,
# `ansible all -m ping`); `provdc lab down` removes it.
set -euo pipefail
TOPOLOGY=${TOPOLOGY:-inventory/soctrang/topology.yml}
INVENTORY=inventory/lab/hosts.yml
SETTINGS=${SETTINGS:-$(dirname "$TOPOLOGY")/lab-settings.yml}
REPORTS=${REPORTS:-reports/demo}
DOSSIER_SYSTEM=${DOSSIER_SYSTEM:-lgsp}

step() { printf '\n\033[1m--- %s\033[0m\n' "$*"; }

step "provdc validate $TOPOLOGY"
provdc validate "$TOPOLOGY"
mkdir -p "$REPORTS"
provdc plan "$TOPOLOGY" --diagram "$REPORTS/network.svg" >"$REPORTS/plan.txt"
provdc plan "$TOPOLOGY" --format json >"$REPORTS/plan.json"
echo "address plan: $REPORTS/plan.txt (and plan.json); network diagram: $REPORTS/network.svg"

step "provdc lab up --topology $TOPOLOGY"
provdc lab up --topology "$TOPOLOGY"

step "ansible-playbook -i $INVENTORY -e @$SETTINGS playbooks/site.yml"
ansible-playbook -i "$INVENTORY" -e @"$SETTINGS" playbooks/site.yml

status=0
step "provdc segmentation verify -i $INVENTORY"
COLUMNS=${COLUMNS:-200} provdc segmentation verify -i "$INVENTORY" \
  | tee "$REPORTS/segmentation.txt" || status=$?

step "provdc audit -i $INVENTORY --out $REPORTS"
audit=0
provdc audit -i "$INVENTORY" --out "$REPORTS" || audit=$?
((audit == 0)) || status=$audit

step "provdc dossier $DOSSIER_SYSTEM --topology $TOPOLOGY --audit $REPORTS/report.json"
provdc dossier "$DOSSIER_SYSTEM" --topology "$TOPOLOGY" --audit "$REPORTS/report.json" \
  --out "$REPORTS" || status=$?

step "done"
echo "Audit report: $PWD/$REPORTS/report.html (also report.json, junit.xml)"
echo "Segmentation proof: $PWD/$REPORTS/segmentation.txt"
echo "Network diagram: $PWD/$REPORTS/network.svg"
echo "Security-level dossier: $PWD/$REPORTS/dossier-$DOSSIER_SYSTEM-vi.docx (and .html)"
echo "The lab is still up: provdc lab status | provdc lab ssh HOST | provdc lab down"
exit "$status"

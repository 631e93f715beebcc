#!/usr/bin/env bash
# The main job, run by `bash quickstart.sh demo`: each step is what an operator would type.
#   1. validate the province's topology and print its address plan;
#   2. bring up the local lab (the small profile of that topology as real hosts);
#   3. converge every lab host with the one playbook ops teams run (site.yml);
#   4. prove the zone segmentation with real traffic (every allowed flow opens, every
#      forbidden pair stays closed);
#   5. back up every host the backup policy names and restore it in a drill (checksums,
#      database row counts, recovery time); then audit every host against the control
#      catalogue and the audit's checks, as an auditor would;
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

# Each step's heading carries the seconds since the demo started, so an operator (and the
# benchmark table) can see where the time goes.
step() { printf '\n\033[1m--- [%4d s] %s\033[0m\n' "$SECONDS" "$*"; }

step "provdc validate $TOPOLOGY"
provdc validate "$TOPOLOGY"
mkdir -p "$REPORTS"
provdc plan "$TOPOLOGY" --diagram "$REPORTS/network.svg" >"$REPORTS/plan.txt"
provdc plan "$TOPOLOGY" --format json >"$REPORTS/plan.json"
echo "address plan: $REPORTS/plan.txt (and plan.json); network diagram: $REPORTS/network.svg"

step "provdc lab up --topology $TOPOLOGY"
provdc lab up --topology "$TOPOLOGY"

# The lab's backup repositories get a password of their own, kept with the lab's other
# secrets (its operator key) outside the project and given to site.yml at run time, as an
# operator gives one from a vault.
if [[ -z ${PROVDC_BACKUP_PASSWORD:-} ]]; then
  secret="${PROVDC_LAB_ROOT:-/var/lib/provdc/labs}/${PROVDC_LAB_NAME:-provdc}/backup-password"
  [[ -s $secret ]] || (umask 077 && head -c 32 /dev/urandom | base64 -w0 >"$secret")
  PROVDC_BACKUP_PASSWORD=$(cat "$secret")
  export PROVDC_BACKUP_PASSWORD
fi

step "ansible-playbook -i $INVENTORY -e @$SETTINGS playbooks/site.yml"
ansible-playbook -i "$INVENTORY" -e @"$SETTINGS" playbooks/site.yml

status=0
step "provdc segmentation verify -i $INVENTORY"
COLUMNS=${COLUMNS:-200} provdc segmentation verify -i "$INVENTORY" \
  | tee "$REPORTS/segmentation.txt" || status=$?

step "provdc backup drill -i $INVENTORY HOST (every host the backup policy names)"
# The lab's hosts run no applications: a host whose backup dumps databases first gets empty
# stand-in PostgreSQL databases of those names, so that its backup has dumps to restore.
while read -r host databases; do
  if [[ -n $databases ]]; then
    provdc lab ssh "$host" -- "systemctl enable --now postgresql >/dev/null 2>&1; for db in \
      $databases; do runuser -u postgres -- createdb \"\$db\" 2>/dev/null; done; true" </dev/null
  fi
  provdc backup drill -i "$INVENTORY" "$host" </dev/null || status=$?
done < <(provdc backup specs -i "$INVENTORY" --format json | python3 -c '
import json, re, sys
for host, spec in json.load(sys.stdin)["hosts"].items():
    names = [d for d in spec["databases"] if re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", d)]
    print(host, *names)')

step "provdc audit -i $INVENTORY --out $REPORTS"
# The lab has no object store: without PROVDC_OFFSITE_BUCKET the repository host's off-site
# copy to write-once storage (VN-BAK-05) is skipped, and the audit gets a waiver for exactly
# that, dated a week ahead and written beside the report, rather than a pass it did not earn
# (tests/backup prove the copy against an S3 server with object lock).
waivers=()
if [[ -z ${PROVDC_OFFSITE_BUCKET:-} ]]; then
  provdc backup specs -i "$INVENTORY" --format json | python3 -c '
import datetime, json, sys, yaml
repo = json.load(sys.stdin)["repository"]
hosts = [repo["host"]] if repo and repo.get("offsite") else []
expiry = datetime.date.today() + datetime.timedelta(days=7)
print(yaml.safe_dump({"waivers": [{
    "control": "VN-BAK-05", "hosts": hosts, "owner": "the provdc demo lab", "expiry": expiry,
    "justification": "the lab has no object store for the off-site copy; give "
                     "PROVDC_OFFSITE_BUCKET and its endpoint to site.yml to copy for real"}]
    if hosts else []}, allow_unicode=True, sort_keys=False))' >"$REPORTS/lab-waivers.yml"
  waivers=(--waivers "$REPORTS/lab-waivers.yml")
fi
audit=0
provdc audit -i "$INVENTORY" --out "$REPORTS" "${waivers[@]}" || audit=$?
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

# Runs on the repository host (bash -s -- REPOSITORY HOST), the password on the line before
# this script (read first). Restores the latest snapshot of HOST into a scratch directory,
# loads each database dump into a throwaway PostgreSQL cluster on a Unix socket, counts
# every table's rows and prints one JSON line. The scratch directory goes whatever happens.
set -euo pipefail
umask 077
REPO=$1 HOST=$2
SCRATCH=$(mktemp -d /var/tmp/provdc-drill.XXXXXX)
PG=""
cleanup() {
    [ -n "$PG" ] && runuser -u postgres -- "$PG/pg_ctl" -D "$SCRATCH/pg" -m immediate stop \
        > /dev/null 2>&1 || true
    rm -rf "$SCRATCH"
}
trap cleanup EXIT
printf '%s\n' "$PROVDC_PW" > "$SCRATCH/password"
unset PROVDC_PW
export RESTIC_REPOSITORY="$REPO" RESTIC_PASSWORD_FILE="$SCRATCH/password" \
    RESTIC_CACHE_DIR="$SCRATCH/cache"

snap=$(restic --no-lock snapshots --latest 1 --host "$HOST" --json | python3 -c '
import json, sys
s = json.load(sys.stdin)[-1]
print(s["short_id"], s["time"])')
id=${snap%% *} when=${snap#* }
started=$(date +%s.%N)
restic --no-lock --quiet restore "$id" --target "$SCRATCH/restore"
sums=$(cd "$SCRATCH/restore" && find . -type f -printf '%T@ %p\0' | while IFS= read -r -d '' line; do
    f=${line#* }; printf '%s %s %s\n' "${line%% *}" "$(sha256sum < "$f" | cut -c1-64)" "${f#.}"
done)

dbjson="{}"
dumps=$(find "$SCRATCH/restore" -path '*/provdc-backup/postgresql/*.sql' | sort)
if [ -n "$dumps" ]; then
    PG=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    install -d -o postgres -m 0700 "$SCRATCH/pg" "$SCRATCH/sock"
    chmod 0711 "$SCRATCH"
    runuser -u postgres -- "$PG/initdb" -A trust -D "$SCRATCH/pg" > /dev/null
    runuser -u postgres -- "$PG/pg_ctl" -D "$SCRATCH/pg" -w -l "$SCRATCH/pg/log" \
        -o "-c listen_addresses= -k $SCRATCH/sock" start > /dev/null
    dbjson=$(for dump in $dumps; do
        db=$(basename "$dump" .sql)
        chmod 0644 "$dump" && chmod -R o+X "$SCRATCH/restore"
        runuser -u postgres -- psql -X -q -h "$SCRATCH/sock" -d postgres -c "CREATE DATABASE \"$db\"" > /dev/null
        runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$SCRATCH/sock" -d "$db" -f "$dump" > /dev/null
        runuser -u postgres -- psql -X -q -A -t -h "$SCRATCH/sock" -d "$db" -c "
            SELECT format('%s.%s %s', table_schema, table_name, (xpath('/row/c/text()', query_to_xml(
              format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1])
              FROM information_schema.tables WHERE table_type = 'BASE TABLE'
              AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1" > "$SCRATCH/$db.restored"
        python3 - "$db" "${dump%.sql}.rows" "$SCRATCH/$db.restored" <<'PY'
import json, sys
def read(path):
    return dict(line.rsplit(" ", 1) for line in open(path).read().splitlines() if line)
db, taken, restored = sys.argv[1], read(sys.argv[2]), read(sys.argv[3])
bad = sorted(t for t in taken.keys() | restored.keys() if taken.get(t) != restored.get(t))
print(json.dumps({db: {"tables": len(taken), "rows": sum(int(v) for v in restored.values()),
                       "mismatched": {t: [taken.get(t), restored.get(t)] for t in bad}}}))
PY
    done | python3 -c 'import json, sys
out = {}
for line in sys.stdin:
    out.update(json.loads(line))
print(json.dumps(out))')
fi
finished=$(date +%s.%N)
epoch=$(date -d "$when" +%s.%N)
printf '%s\n' "$sums" > "$SCRATCH/checksums"
python3 - "$id" "$when" "$epoch" "$started" "$finished" "$dbjson" "$SCRATCH/checksums" <<'PY'
import json, sys
snap, when, epoch, t0, t1, dbs, sums = sys.argv[1:8]
print(json.dumps({"snapshot": snap, "snapshot_time": when, "snapshot_epoch": float(epoch),
                  "recovery_seconds": float(t1) - float(t0),
                  "checksums": open(sums, encoding="utf-8", errors="surrogateescape").read(),
                  "databases": json.loads(dbs)}))
PY

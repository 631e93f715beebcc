#!/bin/bash
# provdc-backup: one backup run of this host into its restic repository in the BACKUP zone.
# Databases are dumped first, each inside one read-only snapshot that also counts every
# table's rows (the restore drill compares them); then the files; then snapshots older than
# the retention are forgotten. The result goes to the journal, which rsyslog forwards to the
# SOC: a failed backup is a security event (priority err).
set -uo pipefail
CONF=/etc/provdc/backup
# shellcheck source=/dev/null
. "$CONF/backup.conf"   # PATHS, DATABASES, RETENTION_DAYS, REPOSITORY, SFTP_ADDRESS, SFTP_PORT, SFTP_ACCOUNT, SFTP_PATH
export RESTIC_REPOSITORY="$REPOSITORY" RESTIC_PASSWORD_FILE="$CONF/password" RESTIC_CACHE_DIR=/var/cache/provdc-backup
SSH="ssh -i $CONF/id_ed25519 -o BatchMode=yes -o IdentitiesOnly=yes -o UserKnownHostsFile=$CONF/known_hosts -p $SFTP_PORT $SFTP_ACCOUNT@$SFTP_ADDRESS -s sftp"
HOST=$(hostname)
STAGE=/var/tmp/provdc-backup
started=$(date +%s)

report() { logger -t provdc-backup -p "daemon.$1" -- "$2"; }
fail() { report err "backup FAILED host=$HOST step=$1"; exit 1; }
restic_() { restic -o "sftp.command=$SSH" --quiet "$@"; }

dump() {  # dump one database and its row counts from one snapshot
    local db=$1 snap line
    coproc PSQL { runuser -u postgres -- psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db"; }
    echo "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT pg_export_snapshot();" >&"${PSQL[1]}"
    read -r -t 60 snap <&"${PSQL[0]}" || return 1
    runuser -u postgres -- pg_dump --no-owner --snapshot="$snap" "$db" > "$STAGE/postgresql/$db.sql" || return 1
    cat >&"${PSQL[1]}" <<'SQL'
SELECT format('%s.%s %s', table_schema, table_name, (xpath('/row/c/text()', query_to_xml(
  format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1])
  FROM information_schema.tables WHERE table_type = 'BASE TABLE'
  AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1;
SELECT '-- end';
SQL
    : > "$STAGE/postgresql/$db.rows"
    while read -r -t 60 line <&"${PSQL[0]}"; do
        [ "$line" = "-- end" ] && break
        echo "$line" >> "$STAGE/postgresql/$db.rows"
    done
    [ "$line" = "-- end" ] || return 1
    echo "COMMIT;" >&"${PSQL[1]}"
    exec {PSQL[1]}>&-
    wait "$PSQL_PID"
}

case "${1:-}" in  # the audit: the repository's config, decrypted and as stored
    config) exec restic -o "sftp.command=$SSH" cat config ;;
    raw-config)  # sftp cannot write into a pipe: through a file of our own
        raw=$(mktemp) && trap 'rm -f "$raw"' EXIT
        sftp -q -i "$CONF/id_ed25519" -o BatchMode=yes -o IdentitiesOnly=yes \
            -o "UserKnownHostsFile=$CONF/known_hosts" -P "$SFTP_PORT" \
            "$SFTP_ACCOUNT@$SFTP_ADDRESS:$SFTP_PATH/config" "$raw" > /dev/null && cat "$raw"
        exit ;;
esac
if [ "${1:-}" = init ]; then  # the role: create the repository unless it is there
    if restic_ cat config > /dev/null 2>&1; then echo "repository exists"; exit 0; fi
    restic_ init > /dev/null && echo "repository created" && exit 0
    fail init
fi

rm -rf "$STAGE" && install -d -m 0700 "$STAGE" || fail stage
targets=("${PATHS[@]}")
if [ "${#DATABASES[@]}" -gt 0 ]; then
    install -d -m 0700 "$STAGE/postgresql" || fail stage
    for db in "${DATABASES[@]}"; do
        dump "$db" || fail "dump:$db"
    done
    targets+=("$STAGE/postgresql")
fi
restic_ backup --tag provdc --host "$HOST" "${targets[@]}" || fail files
restic_ forget --tag provdc --host "$HOST" --keep-within "${RETENTION_DAYS}d" --prune || fail retention
snapshot=$(restic_ snapshots --latest 1 --host "$HOST" --json | python3 -c \
    'import json,sys; print(json.load(sys.stdin)[-1]["short_id"])') || fail snapshots
rm -rf "$STAGE"
install -d -m 0755 /var/lib/provdc-backup
printf '%s %s\n' "$(date +%s)" "$snapshot" > /var/lib/provdc-backup/last-success
report info "backup ok host=$HOST snapshot=$snapshot seconds=$(( $(date +%s) - started ))"

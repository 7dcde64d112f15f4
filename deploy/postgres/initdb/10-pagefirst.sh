#!/bin/sh
# Runs once, when the postgres container initialises its data directory: the monitoring role
# pagefirst and the exporter read pg_stat_activity and pg_stat_statements with (pg_monitor),
# and the pg_stat_statements extension (preloaded by the server's command line).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v monitor_password="$PAGEFIRST_MONITOR_PASSWORD" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE ROLE pagefirst_monitor LOGIN PASSWORD :'monitor_password' CONNECTION LIMIT 5;
GRANT pg_monitor TO pagefirst_monitor;
ALTER ROLE pagefirst_monitor SET statement_timeout = '5s';
SQL

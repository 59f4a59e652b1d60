#!/usr/bin/env bash
# Install and start a local PostgreSQL for the storage contract tests, on Debian 12 as root.
# Creates role monitord (password monitord) owning database monitord_test. Safe to run twice.
# Assumes `apt-get update` has run. No systemd in CI, so the cluster is started with pg_ctlcluster.
set -euo pipefail

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi

version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$version" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    pg_createcluster "$version" main
fi
# pg_lsclusters -h: "VER CLUSTER PORT STATUS OWNER DATADIR LOG", no header.
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online" {found = 1} END {exit !found}'; then
    pg_ctlcluster "$version" main start
fi

# The cluster's own port: 5432 unless another server held it when the cluster was made.
port=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $3}')
for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p "$port"; then
        break
    fi
    sleep 1
done
pg_isready -h 127.0.0.1 -p "$port"

# runuser passes argv straight through, so the SQL needs no extra shell quoting;
# cd / keeps psql from warning that postgres cannot read the caller's directory.
psql_as_postgres() { (cd / && runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -X -q -tA "$@"); }

if [ "$(psql_as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = 'monitord'")" = "1" ]; then
    psql_as_postgres -c "ALTER ROLE monitord LOGIN PASSWORD 'monitord'"
else
    psql_as_postgres -c "CREATE ROLE monitord LOGIN PASSWORD 'monitord'"
fi
if [ "$(psql_as_postgres -c "SELECT 1 FROM pg_database WHERE datname = 'monitord_test'")" != "1" ]; then
    psql_as_postgres -c "CREATE DATABASE monitord_test OWNER monitord"
fi
echo "postgres.sh: PostgreSQL $version ready on port $port; database monitord_test owned by monitord"
# The last line is the URL the tests use (.ci/run reads it).
echo "postgresql+psycopg://monitord:monitord@127.0.0.1:$port/monitord_test"

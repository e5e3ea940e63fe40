#!/bin/sh
# Runs once, when the PostgreSQL data volume is initialised (docker-entrypoint-initdb.d):
# a role and databases for Temporal, and a role and database for the app, each with its own
# password from the environment. Changing a password later: ALTER ROLE ... PASSWORD ...
set -eu
: "${TEMPORAL_DB_PASSWORD:?}"
: "${APP_DB_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" -v app_password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;

CREATE ROLE repatriation LOGIN PASSWORD :'app_password';
CREATE DATABASE repatriation OWNER repatriation;
REVOKE ALL ON DATABASE repatriation FROM PUBLIC;
SQL

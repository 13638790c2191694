#!/usr/bin/env bash
# Starts a real slapd for skgate's tests: TLS (StartTLS and ldaps) with the
# given certificate, the openssh-lpk schema, base dc=skgate,dc=test, data
# from an LDIF file. Only the root DN (cn=admin,dc=skgate,dc=test, password
# in ROOTPW_FILE) can read: an anonymous search finds nothing.
# Usage: slapd-start.sh DIR LDAP_PORT LDAPS_PORT CERT KEY CA DATA.ldif ROOTPW_FILE
# Prints slapd's pid. DIR is created and owned by this run.
set -euo pipefail
dir=$1 port=$2 sport=$3 cert=$4 key=$5 ca=$6 data=$7 pwfile=$8
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/db"
pw=$(head -n1 "$pwfile")
cat > "$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include $here/openssh-lpk.schema
pidfile $dir/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
TLSCertificateFile $cert
TLSCertificateKeyFile $key
TLSCACertificateFile $ca
database mdb
maxsize 16777216
suffix "dc=skgate,dc=test"
rootdn "cn=admin,dc=skgate,dc=test"
rootpw $pw
directory $dir/db
access to * by * none
CONF
slapadd -q -f "$dir/slapd.conf" -l "$data" >"$dir/slapadd.log" 2>&1 ||
    { cat "$dir/slapadd.log" >&2; exit 1; }
slapd -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$sport/" \
    >"$dir/slapd.log" 2>&1 || { cat "$dir/slapd.log" >&2; exit 1; }
for _ in $(seq 100); do
    [ -s "$dir/slapd.pid" ] && break
    sleep 0.05
done
[ -s "$dir/slapd.pid" ] || { echo "slapd did not start" >&2; exit 1; }
cat "$dir/slapd.pid"

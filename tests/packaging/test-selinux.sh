#!/usr/bin/env bash
# Compiles selinux/skgate.{te,if,fc} against Debian's refpolicy
# (selinux-policy-dev), turns the module into CIL text and checks that the
# transitions and rules skgate needs are there, and nothing broader.
set -euo pipefail
src=$1
makefile=/usr/share/selinux/devel/Makefile
[ -f "$makefile" ] || { echo "needs selinux-policy-dev ($makefile)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src"/skgate.te "$src"/skgate.if "$src"/skgate.fc "$tmp/"
cd "$tmp"
make -s -f "$makefile" skgate.pp > make.log 2>&1 || { cat make.log; echo "FAIL: module does not compile" >&2; exit 1; }
semodule_unpackage skgate.pp skgate.mod skgate.fc.out
checkmodule -M -b -C -o skgate.cil skgate.mod > /dev/null 2>&1
fail() { echo "FAIL: $*" >&2; exit 1; }
has() {  # a rule (regex on one CIL line) that must be present
    grep -Eq -- "$1" skgate.cil || fail "missing: $2"
}
lacks() {
    if grep -Eq -- "$1" skgate.cil; then grep -E -- "$1" skgate.cil | head -3 >&2; fail "too broad: $2"; fi
}

has '^\(typetransition sshd_t skgate_keys_exec_t process skgate_keys_t\)' "sshd_t runs skgate-keys in skgate_keys_t"
has '^\(allow sshd_t skgate_keys_t \(process \(transition\)\)\)' "sshd_t may transition"
has '\(typetransition sshd_session_t skgate_keys_exec_t process skgate_keys_t\)' "sshd_session_t (OpenSSH 9.8+) transition, optional"
has '\(typetransition sshd_auth_t skgate_keys_exec_t process skgate_keys_t\)' "sshd_auth_t transition, optional"
# Rules inside CIL optional blocks are indented; at the top level they would
# make the module fail to load where the type does not exist.
for t in sshd_session_t sshd_auth_t sudo_t; do
    lacks "^\\([a-z]+ $t " "$t used outside an optional block (older policies lack it)"
done
has '^\(allow skgate_keys_t skgate_conf_t \(file \([^)]*read' "skgate-keys reads /etc/skgate"
has '^\(allow skgate_keys_t skgate_var_lib_t \(file \([^)]*write' "skgate-keys keeps caches in /var/lib/skgate"
has '^\(allow skgate_keys_t ssh_home_t \(file \([^)]*read' "skgate-keys reads ~/.ssh/authorized_keys"
has '^\(allow skgate_keys_t http_port_t \(tcp_socket \(name_connect\)\)\)' "metadata/http sources"
has '^\(allow skgate_keys_t ldap_port_t \(tcp_socket \(name_connect\)\)\)' "ldap source"
has '^\(allow skgate_keys_t devlog_t \(sock_file \([^)]*write' "skgate-keys logs"
has '^\(allow skgate_keys_t sshd_t \(fifo_file' "skgate-keys answers on sshd's pipe"
has '^\(allow sshd_t skgate_conf_t \(file \([^)]*read' "pam_skgate in sshd reads the policy"
has '^\(allow sshd_t skgate_var_lib_t \(file \([^)]*write' "pam_skgate in sshd updates counters"
has '\(allow sudo_t skgate_var_lib_t \(file \([^)]*write' "pam_skgate in sudo (RHEL's sudo_t) updates counters"

lacks 'unconfined' "no unconfined domains or attributes"
lacks '^\(allow [a-z_]+ (etc_t|shadow_t|sshd_key_t) \([a-z_]+ \([^)]*(write|append|create|unlink|rename)' "writes to /etc, shadow or host keys"
lacks '^\(allow skgate_keys_t skgate_conf_t \([a-z_]+ \([^)]*(write|append|create|unlink)' "skgate-keys never changes the policy or key store"
# Started as root, skgate-keys reads a user's files as that user and then
# becomes skgate: setuid and setgid, and never a capability that bypasses
# file permissions or reaches beyond the process.
lacks '^\(allow skgate_keys_t self \(capability \([^)]*(dac_|sys_|net_|chown|fowner|fsetid|kill|audit|mac_|linux_immutable|ipc_|lease|mknod|setfcap|setpcap)' "skgate-keys has only setuid and setgid"
lacks '^\(allow skgate_keys_t [a-z_]+ \(tcp_socket \(name_bind' "skgate-keys never listens"
lacks '^\(allow [a-z_]+ (file_type|domain|non_security_file_type) ' "rules on whole attributes"

grep -q '^/usr/libexec/skgate/skgate-keys.*skgate_keys_exec_t' skgate.fc.out || fail "file context for the helper"
grep -q '^/etc/skgate(/\.\*)?.*skgate_conf_t' skgate.fc.out || fail "file context for /etc/skgate"
grep -q '^/var/lib/skgate(/\.\*)?.*skgate_var_lib_t' skgate.fc.out || fail "file context for /var/lib/skgate"
echo "selinux: module compiles; $(grep -c '^(allow' skgate.cil) allow rules checked, transitions present, nothing broader"

#!/usr/bin/env bash
# Runs a command in a private world for end-to-end tests: its own mount
# namespace with a private /run (sshd's /run/sshd, a journald), and copies of
# /etc/passwd, /etc/group and /etc/shadow that add the test accounts. The
# machine's users, sshd and PAM configuration and logs are never touched.
#
# Inside, the command finds:
#   SKGATE_E2E_DIR      a root-owned 0755 work directory (/run/skgate-e2e)
#   SKGATE_JOURNAL_DIR  the private journal, for journalctl -D
# /etc/pam.d and /etc/sudoers.d are private copies tests may add to.
# /root is an empty tmpfs.
# Accounts: skgate (skgate-keys runs as it), skgt-alice and skgt-bob
# (homes under $SKGATE_E2E_DIR/home; alice is in group skgt-admins).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: end-to-end tests need root (a private mount namespace and sshd)"
    exit 77
fi
[ -x /usr/sbin/sshd ] || { echo "end-to-end tests need openssh-server" >&2; exit 1; }

exec unshare -m --propagation private bash -s "$@" <<'INNER'
set -euo pipefail
mount -t tmpfs -o mode=0755 tmpfs /run
[ -d /var/log/journal ] && mount -t tmpfs tmpfs /var/log/journal
mkdir -p /run/sshd /run/systemd/journal /run/log/journal
chmod 0755 /run/sshd

E=/run/skgate-e2e
mkdir -p "$E/etc" "$E/home"
chmod 0755 "$E" "$E/home"
cp /etc/passwd /etc/group /etc/shadow "$E/etc/"
add_user() {  # name uid home shell
    echo "$1:x:$2:$2:skgate e2e:$3:$4" >> "$E/etc/passwd"
    echo "$1:x:$2:" >> "$E/etc/group"
    echo "$1:*:19000:0:99999:7:::" >> "$E/etc/shadow"
}
add_user skgate 61000 /nonexistent /usr/sbin/nologin
add_user skgt-alice 61001 "$E/home/skgt-alice" /bin/sh
add_user skgt-bob 61002 "$E/home/skgt-bob" /bin/sh
echo "skgt-admins:x:61010:skgt-alice" >> "$E/etc/group"
for f in passwd group shadow; do
    mount --bind "$E/etc/$f" "/etc/$f"
done
# root's home is empty here: what the machine's root has in ~/.ssh must not
# decide a test (the lockout guard reads root's authorized_keys).
mount -t tmpfs -o mode=0700 tmpfs /root
# A private copy of /etc/pam.d, so tests can add their own services.
cp -a /etc/pam.d "$E/pam.d"
mount --bind "$E/pam.d" /etc/pam.d
# And of /etc/sudoers.d, for sudo's rules.
if [ -d /etc/sudoers.d ]; then
    cp -a /etc/sudoers.d "$E/sudoers.d"
    mount --bind "$E/sudoers.d" /etc/sudoers.d
fi
for u in skgt-alice skgt-bob; do
    mkdir -p "$E/home/$u/.ssh"
    chown -R "$u:$u" "$E/home/$u"
    chmod 0755 "$E/home/$u"
    chmod 0700 "$E/home/$u/.ssh"
done

/lib/systemd/systemd-journald </dev/null >/dev/null 2>&1 &
jpid=$!
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
[ -S /run/systemd/journal/socket ] || { echo "journald did not start" >&2; exit 1; }

export SKGATE_E2E_DIR=$E SKGATE_JOURNAL_DIR=/run/log/journal
set +e
# This script is read from stdin: the command must not read the rest of it.
"$@" </dev/null
rc=$?
set -e
kill "$jpid" 2>/dev/null || true
wait "$jpid" 2>/dev/null || true
exit $rc
INNER

#!/usr/bin/env bash
# Installs skgate into a clean Debian root made with debootstrap, built inside
# that root for its release, and checks what an administrator would:
#   apt install; the README's rollout with the root's own sshd on a loopback
#   port and its own journald: enable (audit mode), an ordinary-key login
#   that works and is recorded as would-deny, skgatectl audit, enable --mode
#   enforce, the security-key login accepted and the ordinary key refused
#   (by sshd's key types; no allow is recorded for it); skgatectl disable;
#   apt purge; /etc as before.
# The rollout's commands and their output are kept in WORK/rollout-RELEASE.txt
# and printed.
# usage: install-test.sh RELEASE SOURCE_DIR WORK_DIR SK_PROVIDER
set -euo pipefail
release=$1 src=$2 work=$3 provider=$4
mirror=${SKGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
R=$work/root-$release
fail() { echo "FAIL ($release): $*" >&2; exit 1; }
say() { printf '[%s] %s\n' "$release" "$*"; }
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }

mounted=()
sshd_pid="" journald_pid=""
cleanup() {
    [ -n "$sshd_pid" ] && kill "$sshd_pid" 2>/dev/null || true
    [ -n "$journald_pid" ] && kill "$journald_pid" 2>/dev/null || true
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT

# --- a clean root with the release's build tools and its sshd -------------
if [ ! -e "$R/.skgate-base" ]; then
    rm -rf "$R"
    say "debootstrap $release"
    debootstrap --variant=minbase "$release" "$R" "$mirror" > "$work/debootstrap-$release.log" 2>&1 \
        || { tail -20 "$work/debootstrap-$release.log"; fail "debootstrap"; }
    printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
    chmod 0755 "$R/usr/sbin/policy-rc.d"
    touch "$R/.skgate-base"
fi
mount -t proc proc "$R/proc"; mounted+=("$R/proc")
mount --bind /dev "$R/dev"; mounted+=("$R/dev")
mount -t tmpfs tmpfs "$R/run"; mounted+=("$R/run")
# journald needs /sys and the cgroup hierarchy; a slave copy, so that
# unmounting it here never propagates to the machine's own.
mount --rbind /sys "$R/sys" && mount --make-rslave "$R/sys"; mounted+=("$R/sys")
mkdir -p "$R/run/sshd"

# --- build the packages inside the root, for this release ------------------
rm -rf "$R/build" && mkdir -p "$R/build/skgate"
cp -a "$src/." "$R/build/skgate/"
say "apt-get build-dep (debian/control), openssh-server and systemd (for journald)"
in_root sh -c 'cd /build/skgate && apt-get build-dep -y -q --no-install-recommends ./ && apt-get install -y -q --no-install-recommends openssh-server systemd' \
    > "$work/apt-$release.log" 2>&1 || { tail -20 "$work/apt-$release.log"; fail "apt-get install"; }

say "dpkg-buildpackage"
in_root sh -c 'cd /build/skgate && dpkg-buildpackage -us -uc -b' > "$work/build-$release.log" 2>&1 \
    || { tail -30 "$work/build-$release.log"; fail "dpkg-buildpackage"; }
ls "$R"/build/skgate_*.deb "$R"/build/skgate-client_*.deb > /dev/null

# journald needs a machine id, as a booted system has.
[ -s "$R/etc/machine-id" ] || in_root systemd-machine-id-setup > /dev/null

# --- a user, and /etc as it is before skgate --------------------------------
in_root sh -c 'id alice >/dev/null 2>&1 || useradd -m -s /bin/sh alice'
in_root sh -c 'mkdir -p /home/alice/.ssh && chown alice:alice /home/alice/.ssh && chmod 700 /home/alice/.ssh'
snapshot() {  # every file under etc/: path, mode, owner, content hash
    (cd "$R" && find etc -xdev \( -type f -o -type l -o -type d \) -printf '%p %m %u:%g %l\n' | sort \
        | grep -Ev '^etc/(passwd|group|shadow|gshadow)- ' \
        | while read -r p rest; do
            if [ -f "$p" ] && [ ! -L "$p" ]; then echo "$p $rest $(sha256sum < "$p" | cut -c1-16)"; else echo "$p $rest"; fi
        done)
}
snapshot > "$work/etc-before-$release"

say "apt install ./skgate_*.deb"
in_root sh -c 'apt-get install -y -q /build/skgate_*.deb' > "$work/install-$release.log" 2>&1 \
    || { tail -20 "$work/install-$release.log"; fail "apt install"; }
in_root id skgate > /dev/null || fail "postinst did not create the skgate user"
[ -d "$R/var/lib/skgate" ] || fail "postinst did not create /var/lib/skgate"
[ "$(in_root stat -c '%U %a' /var/lib/skgate/sources)" = "skgate 700" ] \
    || fail "postinst did not create /var/lib/skgate/sources (skgate, 0700)"
in_root test -x /usr/libexec/skgate/skgate-fetch || fail "skgate-fetch is not installed"
in_root skgatectl status | grep -q "^mode: *disabled" || fail "installing enabled something"
[ ! -e "$R/etc/ssh/sshd_config.d/10-skgate.conf" ] || fail "installing wrote an sshd drop-in"

# --- keys: a security key (the test provider) and an ordinary one ---------
K=$work/keys-$release
rm -rf "$K" && mkdir -p "$K"
ssh-keygen -q -t ecdsa-sk -N '' -C alice-sk -w "$provider" -f "$K/sk" || fail "ssh-keygen -t ecdsa-sk"
ssh-keygen -q -t ed25519 -N '' -C alice-plain -f "$K/plain"
# The ordinary key is in alice's authorized_keys: enforce mode must ignore it.
cp "$K/plain.pub" "$R/home/alice/.ssh/authorized_keys"
in_root chown alice:alice /home/alice/.ssh/authorized_keys
in_root skgatectl enroll --user alice --key "$(cat "$K/sk.pub")" --name laptop > /dev/null \
    || fail "skgatectl enroll"

# --- the rollout, as the README tells an administrator -----------------------
chroot "$R" /lib/systemd/systemd-journald < /dev/null > "$work/journald-$release.log" 2>&1 &
journald_pid=$!
for _ in $(seq 100); do [ -S "$R/run/systemd/journal/socket" ] && break; sleep 0.1; done
[ -S "$R/run/systemd/journal/socket" ] || fail "journald did not start in the root"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_sshd() {  # as the unit would, on a loopback port
    chroot "$R" /usr/sbin/sshd -D -p "$port" -o ListenAddress=127.0.0.1 -E /var/log/skgate-sshd.log &
    sshd_pid=$!
    for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
    fail "sshd did not start"
}
stop_sshd() { kill "$sshd_pid"; wait "$sshd_pid" 2>/dev/null || true; sshd_pid=""; }
login() {  # key, extra options...
    local key=$1; shift
    ssh -F /dev/null -p "$port" -i "$key" -o IdentitiesOnly=yes -o IdentityAgent=none \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes \
        -o LogLevel=ERROR -o ConnectTimeout=10 -o SecurityKeyProvider="$provider" \
        "$@" alice@127.0.0.1 echo skgate-login-ok 2>&1
}
T=$work/rollout-$release.txt
: > "$T"
run() {  # the command as typed on the server, then its output
    printf '# %s\n' "$*" >> "$T"
    in_root "$@" >> "$T" 2>&1
}
# The journal receives events as they are sent; reading them back may lag on
# a loaded machine, so wait for the one expected (at most 20 s).
audit_shows() {  # what to find, skgatectl audit arguments...
    local want=$1; shift
    for _ in $(seq 200); do
        in_root skgatectl audit "$@" 2>/dev/null | grep -qF -- "$want" && return 0
        sleep 0.1
    done
    return 1
}
plain_fp=$(ssh-keygen -lf "$K/plain.pub" | awk '{print $2}')

say "rollout: skgatectl enable (audit mode)"
run skgatectl enable || { cat "$T"; fail "skgatectl enable"; }
grep -q "sshd -t accepts it" "$T" || fail "enable did not validate with sshd -t"
start_sshd
out=$(login "$K/plain") || true
grep -q skgate-login-ok <<<"$out" || { tail -20 "$R/var/log/skgate-sshd.log"; fail "audit mode refused the ordinary key: $out"; }
out=$(login "$K/sk") || true
grep -q skgate-login-ok <<<"$out" || { tail -20 "$R/var/log/skgate-sshd.log"; fail "audit mode refused the security key: $out"; }
say "audit mode: both keys log in"
journal_state() {  # what to look at when the journal has no event
    in_root skgatectl audit
    echo "machine-id: $(cat "$R/etc/machine-id" 2>&1)"
    ls -laR "$R/run/log/journal" "$R/var/log/journal" 2>&1 | head -20 || true
    kill -0 "$journald_pid" 2>/dev/null && echo "journald runs" || echo "journald has exited"
    tail -20 "$work/journald-$release.log"
}
audit_shows "$plain_fp" --json --decision would-deny --user alice \
    || { journal_state; fail "no would-deny event for the ordinary key $plain_fp"; }
run skgatectl audit --decision would-deny
stop_sshd

say "rollout: skgatectl enable --mode enforce"
run skgatectl enable --mode enforce || { cat "$T"; fail "skgatectl enable --mode enforce"; }
start_sshd
out=$(login "$K/sk") || true
grep -q skgate-login-ok <<<"$out" || { tail -20 "$R/var/log/skgate-sshd.log"; fail "sk login refused: $out"; }
say "security-key login accepted"
out=$(login "$K/plain") && fail "ordinary key accepted: $out"
grep -q skgate-login-ok <<<"$out" && fail "ordinary key logged in"
say "ordinary key refused"
# Enforce mode's PubkeyAcceptedAlgorithms has sshd refuse the ordinary key's
# type before it asks skgate-keys: its refusal is sshd's, in sshd's log, and
# skgate records no decision that allowed it.
grep -q "ssh-ed25519.*not in PubkeyAcceptedAlgorithms\|key type ssh-ed25519 not in" \
    "$R/var/log/skgate-sshd.log" \
    || { tail -20 "$R/var/log/skgate-sshd.log"; fail "sshd did not refuse the ordinary key's type"; }
in_root skgatectl audit --json --decision allow --user alice | grep -qF "$plain_fp" \
    && { journal_state; fail "an allow decision for the ordinary key $plain_fp"; }
run skgatectl audit --user alice --since 1h
run skgatectl status
stop_sshd
cat "$T"

say "skgatectl disable"
in_root skgatectl disable > /dev/null || fail "skgatectl disable"
[ ! -e "$R/etc/ssh/sshd_config.d/10-skgate.conf" ] || fail "disable left the drop-in"
say "apt purge"
in_root apt-get purge -y -q skgate > "$work/purge-$release.log" 2>&1 \
    || { tail -20 "$work/purge-$release.log"; fail "apt purge"; }
rm -f "$R/var/log/skgate-sshd.log"
kill "$journald_pid"; wait "$journald_pid" 2>/dev/null || true; journald_pid=""
snapshot > "$work/etc-after-$release"
diff -u "$work/etc-before-$release" "$work/etc-after-$release" || fail "/etc differs after purge"
[ ! -e "$R/var/lib/skgate" ] || fail "purge left /var/lib/skgate"
in_root id skgate > /dev/null 2>&1 && fail "purge left the skgate user"
say "purged: /etc is as it was before install"

# --- a fleet's way in (Debian 12): the #cloud-config, then the Ansible role ----
if [ "$release" = bookworm ]; then
    F=$work/fleet-$release.txt
    : > "$F"
    say "cloud-init: the documented #cloud-config, checked and run in the root"
    in_root sh -c 'apt-get install -y -q --no-install-recommends cloud-init python3-apt' \
        > "$work/cloud-init-install-$release.log" 2>&1 \
        || { tail -20 "$work/cloud-init-install-$release.log"; fail "apt-get install cloud-init"; }
    cp "$src/examples/cloud-init/skgate-linode.yaml" "$R/var/tmp/skgate-cloud-config.yaml"
    cp "$src/tests/packaging/apply-cloud-config.py" "$R/var/tmp/apply-cloud-config.py"
    echo "# cloud-init schema --config-file skgate-linode.yaml" >> "$F"
    in_root cloud-init schema --config-file /var/tmp/skgate-cloud-config.yaml >> "$F" 2>&1 \
        || { cat "$F"; fail "cloud-init schema refused examples/cloud-init/skgate-linode.yaml"; }
    deb=$(cd "$R" && ls build/skgate_*.deb)
    in_root python3 /var/tmp/apply-cloud-config.py /var/tmp/skgate-cloud-config.yaml "/$deb" \
        >> "$F" 2>&1 || { cat "$F"; fail "the #cloud-config's commands"; }
    in_root skgatectl status --json | grep -q '"mode":"audit"' || { cat "$F"; fail "cloud-init: not in audit mode"; }
    grep -q '^KeySources local metadata$' "$R/etc/skgate/skgate.conf" \
        || fail "cloud-init: the policy was not written"
    in_root skgatectl disable >> "$F" 2>&1 || fail "skgatectl disable after cloud-init"
    in_root apt-get purge -y -q skgate > /dev/null 2>&1 || fail "apt purge after cloud-init"

    say "ansible: the skgate role through a chroot connection, twice each way"
    cp "$R/$deb" "$R/var/tmp/skgate.deb"
    A=$work/ansible-$release
    rm -rf "$A" && mkdir -p "$A"
    printf '%s ansible_connection=community.general.chroot ansible_python_interpreter=/usr/bin/python3\n' \
        "$R" > "$A/inventory"
    printf -- '- hosts: all\n  gather_facts: false\n  roles: [skgate]\n' > "$A/play.yml"
    cat > "$A/vars.yml" <<VARS
skgate_package: /var/tmp/skgate.deb
skgate_mode: enforce
skgate_policy: |
  KeySources local
skgate_keys:
  - {user: alice, key: "$(cat "$K/sk.pub")", name: laptop}
VARS
    play() {  # run number, extra arguments...
        local n=$1; shift
        echo "# ansible-playbook (run $n) $*" >> "$F"
        ANSIBLE_ROLES_PATH=$src/examples/ansible/roles ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
            ANSIBLE_LOCAL_TEMP=$A/tmp ansible-playbook -i "$A/inventory" "$A/play.yml" \
            -e "@$A/vars.yml" "$@" > "$A/run-$n.log" 2>&1
        local rc=$?
        sed -n '/PLAY RECAP/,$p' "$A/run-$n.log" >> "$F"
        [ $rc -eq 0 ] || { tail -40 "$A/run-$n.log"; fail "ansible-playbook run $n"; }
    }
    recap_changed() { sed -n '/PLAY RECAP/,$p' "$A/run-$1.log" | grep -o 'changed=[0-9]*' | head -1; }
    play 1
    [ "$(recap_changed 1)" != "changed=0" ] || fail "ansible: the first run changed nothing"
    in_root skgatectl status --json | grep -q '"mode":"enforce"' || fail "ansible: not in enforce mode"
    play 2
    [ "$(recap_changed 2)" = "changed=0" ] || { cat "$A/run-2.log"; fail "ansible: the second run changed something"; }
    before_check=$(snapshot)
    play 3 --check -e skgate_mode=audit
    # The policy's Mode line and enable's files would change; nothing is written.
    [ "$(recap_changed 3)" = "changed=2" ] || { cat "$A/run-3.log"; fail "ansible --check: expected the policy and enable to change"; }
    [ "$(snapshot)" = "$before_check" ] || fail "ansible --check wrote to /etc"
    play 4 -e skgate_state=disabled
    [ "$(recap_changed 4)" != "changed=0" ] || fail "ansible: disabling changed nothing"
    [ ! -e "$R/etc/ssh/sshd_config.d/10-skgate.conf" ] || fail "ansible: disable left the drop-in"
    play 5 -e skgate_state=disabled
    [ "$(recap_changed 5)" = "changed=0" ] || { cat "$A/run-5.log"; fail "ansible: disabling again changed something"; }
    in_root apt-get purge -y -q skgate > /dev/null 2>&1 || fail "apt purge after ansible"
    cat "$F"
    say "cloud-init and the Ansible role: done (transcript in $F)"
fi

#!/usr/bin/env bash
# Audit events reach a real journald with every field, and syslog when
# journald is absent. Runs in a private mount namespace with its own /run,
# journal and /dev/log, so the machine's logging is never touched.
set -euo pipefail

emit=$1
if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root for a private mount namespace"
    exit 77
fi

exec unshare -m --propagation private bash -s "$emit" <<'INNER'
set -euo pipefail
emit=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

mount -t tmpfs -o mode=0755 tmpfs /run
[ -d /var/log/journal ] && mount -t tmpfs tmpfs /var/log/journal
mkdir -p /run/systemd/journal /run/log/journal

# --- journald -------------------------------------------------------------
/lib/systemd/systemd-journald &
jpid=$!
trap 'kill $jpid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
[ -S /run/systemd/journal/socket ] || fail "journald did not start"

"$emit" event=keys-lookup decision=would-deny user=alice reason=not-a-security-key \
    counter=305419896 flags=0x05 latency_us=1234 "message=lookup for alice"

found=""
for _ in $(seq 100); do
    found=$(journalctl -D /run/log/journal -o json SKGATE_EVENT=keys-lookup 2>/dev/null || true)
    [ -n "$found" ] && break
    sleep 0.05
done
[ -n "$found" ] || fail "event not found in the journal"
for field in '"SKGATE_DECISION":"would-deny"' '"SKGATE_USER":"alice"' \
             '"SKGATE_REASON":"not-a-security-key"' '"SKGATE_COUNTER":"305419896"' \
             '"SKGATE_FLAGS":"0x05"' '"SYSLOG_IDENTIFIER":"skgate-test"' \
             '"MESSAGE":"lookup for alice"'; do
    grep -qF "$field" <<<"$found" || fail "journal entry lacks $field: $found"
done
# the filter really filters
other=$(journalctl -D /run/log/journal -o json SKGATE_EVENT=stepup 2>/dev/null || true)
[ -z "$other" ] || fail "unexpected stepup event: $other"
# --- skgatectl audit reads them back through sd_journal --------------------
ctl=${SKGATE_SKGATECTL:?}
"$emit" event=keys-lookup decision=allow user=bob reason=policy-allows "message=lookup for bob"
"$emit" event=stepup decision=deny user=alice reason=no-presence "message=step-up for alice"
for _ in $(seq 100); do
    n=$("$ctl" audit --json 2>/dev/null | wc -l)
    [ "$n" -ge 3 ] && break
    sleep 0.05
done
[ "$("$ctl" audit --json | wc -l)" -eq 3 ] || fail "audit --json: expected 3 events: $("$ctl" audit --json)"
out=$("$ctl" audit --user alice --json)
[ "$(wc -l <<<"$out")" -eq 2 ] || fail "--user alice: $out"
grep -q '"user":"bob"' <<<"$out" && fail "--user alice shows bob: $out"
out=$("$ctl" audit --user alice --decision would-deny --json)
[ "$(wc -l <<<"$out")" -eq 1 ] && grep -qF '"reason":"not-a-security-key"' <<<"$out" \
    || fail "--user alice --decision would-deny: $out"
# Numbers are JSON numbers (skgatectl(8)), not strings.
for field in '"counter":305419896' '"latency_us":1234' '"flags":"0x05"'; do
    grep -qF "$field" <<<"$out" || fail "audit --json lacks $field: $out"
done
out=$("$ctl" audit --event stepup)
grep -q "^TIME .*EVENT .*DECISION .*USER" <<<"$out" || fail "table header missing: $out"
grep -q "stepup .*deny .*alice .*no-presence" <<<"$out" || fail "table row missing: $out"
[ "$(wc -l <<<"$out")" -eq 2 ] || fail "--event stepup: $out"
out=$("$ctl" audit --lines 1 --json)
grep -q '"event":"stepup"' <<<"$out" || fail "--lines 1 is not the newest: $out"
out=$("$ctl" audit --since 2099-01-01)
[ "$out" = "no skgate events match" ] || fail "--since in the future: $out"
[ "$("$ctl" audit --since 1h --json | wc -l)" -eq 3 ] || fail "--since 1h"
"$ctl" audit --decision maybe 2>/dev/null && fail "--decision maybe accepted"
"$ctl" audit --since yesterday-ish 2>/dev/null && fail "bad --since accepted"
echo "skgatectl audit: filters by user, decision, event, time and count"
# Any local user can send journald any field: a user's forged "allow" must not
# read as skgate's decision. logger --journald is exactly that user's tool.
printf 'SKGATE_EVENT=stepup\nSKGATE_DECISION=allow\nSKGATE_USER=alice\nSKGATE_REASON=forged\nMESSAGE=forged step-up\n' \
    | setpriv --reuid=65534 --regid=65534 --clear-groups logger --journald
for _ in $(seq 200); do
    journalctl -D /run/log/journal -o json SKGATE_REASON=forged _UID=65534 2>/dev/null | grep -q forged && break
    sleep 0.05
done
journalctl -D /run/log/journal -o json SKGATE_REASON=forged _UID=65534 | grep -q forged \
    || fail "the forged entry did not reach the journal (the test proves nothing)"
out=$("$ctl" audit --json 2>/run/audit.err)
grep -q forged <<<"$out" && fail "audit shows an event nobody trusted wrote: $out"
[ "$(wc -l <<<"$out")" -eq 3 ] || fail "audit --json after the forgery: $out"
grep -q "ignored 1 journal entry .* neither root nor the skgate account wrote" /run/audit.err \
    || fail "audit does not say it ignored the forged entry: $(cat /run/audit.err)"
grep -qF '"uid":0' <<<"$out" || fail "audit --json lacks the writer's uid: $out"
out=$("$ctl" audit --lines 1 --json 2>/dev/null)
{ grep -q '"decision":"deny"' <<<"$out" && ! grep -q forged <<<"$out"; } \
    || fail "--lines 1 counts the forged entry: $out"
# Agent events are the laptop user's own: they count from anyone.
printf 'SKGATE_EVENT=agent-sign\nSKGATE_DECISION=allow\nSKGATE_USER=nobody\nMESSAGE=agent signed\n' \
    | setpriv --reuid=65534 --regid=65534 --clear-groups logger --journald
for _ in $(seq 200); do
    "$ctl" audit --event agent-sign --json 2>/dev/null | grep -q '"uid":65534' && break
    sleep 0.05
done
"$ctl" audit --event agent-sign --json | grep -q '"uid":65534' \
    || fail "a user's agent event is not shown with its uid: $("$ctl" audit --event agent-sign --json)"
# A forger gives a field twice: the filter matches one value (revoke), a
# first-value reader sees the other (agent-sign, which counts from anyone;
# journald returns the value whose data object is older, so agent-sign is
# written alone first and revoke appears here for the first time).
printf 'SKGATE_EVENT=agent-sign\n' | setpriv --reuid=65534 --regid=65534 --clear-groups logger --journald
printf 'SKGATE_EVENT=revoke\nSKGATE_EVENT=agent-sign\nSKGATE_DECISION=allow\nSKGATE_USER=root\nSKGATE_REASON=twice-forged\nMESSAGE=root: key revoked\n' \
    | setpriv --reuid=65534 --regid=65534 --clear-groups logger --journald
for _ in $(seq 200); do
    journalctl -D /run/log/journal -o json SKGATE_REASON=twice-forged 2>/dev/null | grep -q twice-forged && break
    sleep 0.05
done
journalctl -D /run/log/journal -o json SKGATE_REASON=twice-forged | grep -q twice-forged \
    || fail "the doubled forgery did not reach the journal (the test proves nothing)"
for filter in "--event revoke" "--event agent-sign" "--user root" ""; do
    # shellcheck disable=SC2086
    out=$("$ctl" audit $filter --json 2>/dev/null)
    grep -q twice-forged <<<"$out" && fail "audit $filter shows an entry with a field given twice: $out"
done
out=$("$ctl" audit --event stepup 2>/dev/null)
grep -q "^TIME .*EVENT .*DECISION .*USER .*KEY .*UID .*REASON" <<<"$out" || fail "table lacks the UID column: $out"
grep -q "stepup .*deny .*alice .* 0 .*no-presence" <<<"$out" || fail "table row lacks the uid: $out"
# In sudo and su, PAM (and so pam_skgate) runs with the invoking user's real
# uid and effective uid 0: such a decision is root's and must be shown.
python3 -c 'import os, sys; os.setresgid(65534, 0, 0); os.setresuid(65534, 0, 0); os.execv(sys.argv[1], sys.argv[1:])' \
    "$emit" event=stepup decision=allow user=carol reason=fresh-approval "message=step-up for carol"
for _ in $(seq 200); do
    "$ctl" audit --user carol --json 2>/dev/null | grep -q '"user":"carol"' && break
    sleep 0.05
done
out=$("$ctl" audit --user carol --json 2>/dev/null)
grep -qF '"uid":0' <<<"$out" && grep -qF '"decision":"allow"' <<<"$out" \
    || fail "a decision made with effective uid 0 (as in sudo) is not shown as root's: $out $(journalctl -D /run/log/journal -o json SKGATE_USER=carol)"
# A journal directory someone else could write holds uids they chose.
mkdir -p /run/anyones-journal && chmod 1777 /run/anyones-journal
cp -r /run/log/journal/. /run/anyones-journal/
if "$ctl" audit --directory /run/anyones-journal 2>/run/audit.err; then
    fail "audit read a journal directory anyone can write"
fi
grep -q "only root can write" /run/audit.err || fail "no reason for refusing the directory: $(cat /run/audit.err)"
"$ctl" audit --directory /run/log/journal --json >/dev/null 2>&1 || fail "audit --directory refused root's own journal"
echo "skgatectl audit: entries other users wrote are not skgate's decisions"
kill $jpid; wait $jpid 2>/dev/null || true
trap - EXIT
echo "journald: event and fields present"

# --- syslog fallback ------------------------------------------------------
rm -rf /run/systemd/journal
olddev=$(mktemp -d)
mount --bind /dev "$olddev"
mount -t tmpfs -o mode=0755 tmpfs /dev
for n in null zero urandom random; do
    touch "/dev/$n"
    mount --bind "$olddev/$n" "/dev/$n"
done
out=/run/syslog.out
python3 - "$out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
s.settimeout(10)
open(sys.argv[1] + ".ready", "w").close()
data = s.recv(65536)
open(sys.argv[1], "wb").write(data)
PY
lpid=$!
for _ in $(seq 100); do [ -e "$out.ready" ] && break; sleep 0.05; done
"$emit" event=stepup decision=deny user=bob "message=step-up for bob"
wait $lpid || fail "no syslog message arrived"
line=$(cat "$out")
grep -qF 'skgate-test[' <<<"$line" || fail "syslog line lacks the identifier: $line"
grep -qF 'SKGATE_EVENT=stepup' <<<"$line" || fail "syslog line lacks the event: $line"
grep -qF 'SKGATE_DECISION=deny' <<<"$line" || fail "syslog line lacks the decision: $line"
# <PRI>: authpriv (10) * 8 + warning (4) = 84
grep -q '^<84>' <<<"$line" || fail "syslog priority is not authpriv.warning: $line"
echo "syslog: fallback line present"
INNER

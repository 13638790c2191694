// A real sshd on 127.0.0.1 for end-to-end tests, run inside
// tests/scripts/e2e-env.sh (private /run, journal and test accounts).
#pragma once

#include <sys/types.h>

#include <cstdint>

#include <map>
#include <string>
#include <vector>

#include "core/wiring/sshd_wiring.h"
#include "tests/support/helpers.h"

namespace skgate::test {

class SshdHarness {
  public:
    // Empty when not inside e2e-env.sh (the tests then skip).
    static std::string e2e_dir();

    explicit SshdHarness(std::string dir);
    ~SshdHarness();

    // Writes sshd_config from `extra` (appended to the harness's own lines)
    // and starts sshd on a free port; throws when it does not come up.
    // `sshd` may be a symlink to /usr/sbin/sshd: sshd 9.2 names its PAM
    // service after argv[0], so a private service needs a private name.
    void start(const std::string& extra_config, const std::string& sshd = "/usr/sbin/sshd");
    void stop();
    // skgate.conf (the harness's key store and revocation list, then
    // `policy`) and an sshd whose only keys come from skgate-keys.
    void start_with_skgate_keys(const std::string& policy, const std::string& extra_sshd = "");
    // skgate.conf (the harness's store, revocation list and state, `policy`)
    // and an sshd wired as skgatectl enable wires it (core's own drop-in,
    // for `o`'s mode and break-glass users): `before` comes first (an
    // administrator's earlier drop-in), `after` last (the rest of
    // sshd_config). The revocation index is rebuilt first.
    void start_enabled(const std::string& policy, const wiring::Options& o,
                       const std::string& before = "", const std::string& after = "");
    int port() const { return port_; }

    // Copies skgate-keys (SKGATE_KEYS) to libexec/ under the harness: sshd
    // insists that the command and every directory above it are root-owned
    // and not writable by others. Returns the installed path.
    std::string install_helper();

    // Makes a key with the stock ssh-keygen (sk types through the test
    // security key); returns the private key path (public: path + ".pub").
    std::string make_key(const std::string& name, const std::string& type,
                         const std::vector<std::string>& extra = {});

    // Enrolls for `user`, as an administrator would with skgatectl, a key
    // skgate-agent generated: its .pub and the attestation and challenge the
    // agent kept beside it.
    RunResult enroll_generated(const std::string& user, const std::string& pub,
                               const std::string& name);

    // ssh USER@127.0.0.1 with the key; `env` steers the test security key.
    RunResult login(const std::string& user, const std::string& key,
                    const std::map<std::string, std::string>& env = {},
                    const std::string& command = "echo skgate-login-ok",
                    const std::vector<std::string>& options = {"BatchMode=yes"});

    // sshd's log since the last call (so each login's lines can be checked).
    std::string new_log();
    // Journal entries (JSON lines) with these FIELD=value matches, since the
    // last mark_journal() if any, waiting up to ten seconds for at least one
    // (that contains `containing`) to arrive: journald may be slow on a
    // loaded machine. Empty when none did.
    std::string journal(const std::vector<std::string>& matches,
                        const std::string& containing = "");
    // Later journal() calls see only entries written after this call.
    void mark_journal();

    const std::string& dir() const { return dir_; }
    std::string path(const std::string& name) const { return dir_ + "/" + name; }

  private:
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
    size_t log_offset_ = 0;
    uint64_t journal_mark_us_ = 0;
};

}  // namespace skgate::test

// skgatectl enable / disable / status / audit against copies of Debian 12's
// and RHEL 9's real sshd and PAM configuration, validated by Debian's real
// sshd (-t, -T), with a real journald. Runs inside tests/scripts/e2e-env.sh:
// its /run is private, so no signal reaches the machine's own sshd.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>
#include <tuple>
#include <vector>

#include "core/ssh/krl.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;
namespace fs = std::filesystem;

namespace {

const char* env_or_throw(const char* name) {
    const char* v = std::getenv(name);
    if (!v)
        throw std::runtime_error(std::string(name) + " is not set (run through meson test)");
    return v;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start < text.size()) {
        size_t nl = text.find('\n', start);
        if (nl == std::string::npos)
            nl = text.size();
        out.push_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return out;
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

struct Entry {
    std::string content;
    unsigned mode = 0;
    bool operator==(const Entry& o) const { return content == o.content && mode == o.mode; }
};
using Snapshot = std::map<std::string, Entry>;

// A distribution's /etc in a temporary root: Include paths point into it,
// plus a host key and a PidFile of its own so sshd -t and -T run.
class SystemRoot {
  public:
    explicit SystemRoot(const std::string& distro) {
        const std::string src =
            std::string(env_or_throw("SKGATE_SOURCE_ROOT")) + "/tests/fixtures/" + distro;
        fs::copy(src, root(), fs::copy_options::recursive);
        fs::remove(root() + "/etc/ssh/sshd_config.d/.keep");
        for (const auto& e : fs::recursive_directory_iterator(root() + "/etc")) {
            if (!e.is_regular_file())
                continue;
            std::string text = read_file(e.path());
            std::string fixed = replace_all(text, "Include /etc/", "Include " + root() + "/etc/");
            if (fixed != text)
                write_file(e.path(), fixed);
        }
        std::string cfg = read_file(sshd_config());
        size_t inc = cfg.find("Include ");
        size_t eol = cfg.find('\n', inc);
        cfg.insert(eol + 1, "HostKey " + root() + "/etc/ssh/ssh_host_ed25519_key\nPidFile " +
                                root() + "/sshd.pid\n");
        write_file(sshd_config(), cfg);
        auto kg = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                       root() + "/etc/ssh/ssh_host_ed25519_key"});
        if (kg.status != 0)
            throw std::runtime_error("ssh-keygen: " + kg.err);
        fs::create_directories(root() + "/etc/skgate/keys.d");
        fs::create_directories(root() + "/etc/systemd/system");
        fs::create_directories(root() + "/var/lib");
        write_file(conf(), "# skgate policy\nStateDirectory " + root() +
                               "/var/lib/skgate\nKeysDirectory " + root() +
                               "/etc/skgate/keys.d\nRevokedKeys " + root() +
                               "/etc/skgate/revoked\nBreakGlassUsers rescue\n");
    }

    std::string root() const { return dir_.path(); }
    std::string sshd_config() const { return root() + "/etc/ssh/sshd_config"; }
    std::string pam() const { return root() + "/etc/pam.d/sshd"; }
    std::string conf() const { return root() + "/etc/skgate/skgate.conf"; }
    std::string dropin() const { return root() + "/etc/ssh/sshd_config.d/10-skgate.conf"; }

    std::vector<std::string> paths() const {
        return {"-f",         conf(), "--sshd-config", sshd_config(),
                "--pam-file", pam(),  "--systemd-dir", systemd()};
    }
    // The units enable reads (the machine's are never consulted here).
    std::string systemd() const { return root() + "/etc/systemd/system"; }

    RunResult ctl(std::vector<std::string> args) const {
        std::vector<std::string> argv{env_or_throw("SKGATE_SKGATECTL")};
        argv.insert(argv.end(), args.begin(), args.end());
        if (args[0] != "audit")
            for (const auto& p : paths())
                argv.push_back(p);
        return run(argv);
    }

    // Every file under etc/, with its mode: what "restored exactly" compares.
    Snapshot snapshot() const {
        Snapshot s;
        for (const auto& e : fs::recursive_directory_iterator(root() + "/etc")) {
            // skgate's own data, which enable creates for sshd's RevokedKeys
            // and revoke keeps: not configuration that disable gives back.
            if (e.path().filename() == "revoked.krl" || e.path().filename() == ".revoked.lock")
                continue;
            struct stat st;
            lstat(e.path().c_str(), &st);
            s[e.path().string()] = {e.is_regular_file() ? read_file(e.path()) : "",
                                    static_cast<unsigned>(st.st_mode)};
        }
        return s;
    }

    std::string effective(const std::string& user = "") const {
        std::vector<std::string> argv = {"/usr/sbin/sshd", "-T", "-f", sshd_config()};
        if (!user.empty()) {
            argv.push_back("-C");
            argv.push_back("user=" + user + ",host=client,addr=192.0.2.1");
        }
        auto r = run(argv);
        if (r.status != 0)
            throw std::runtime_error("sshd -T: " + r.err);
        return r.out;
    }

    void enroll(const std::string& user) const {
        const std::string key = std::string(trim(read_file(
            std::string(env_or_throw("SKGATE_VECTORS")) + "/openssh/sshkey/ecdsa_sk1.pub")));
        std::vector<std::string> argv{
            env_or_throw("SKGATE_SKGATECTL"), "enroll", "-f", conf(), "--user", user, "--key", key};
        auto r = run(argv);
        if (r.status != 0)
            throw std::runtime_error("enroll: " + r.err);
    }

    static std::string replace_all(std::string s, const std::string& from, const std::string& to) {
        for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
            s.replace(at, from.size(), to);
        return s;
    }

  private:
    TempDir dir_;
};

Snapshot without_key_store(Snapshot s) {
    std::erase_if(s, [](const auto& e) { return e.first.find("/keys.d") != std::string::npos; });
    return s;
}

// enable refuses, says why, and leaves every file as it was.
void expect_refused_untouched(const SystemRoot& sys, const std::vector<std::string>& args,
                              const std::string& why) {
    const Snapshot before = sys.snapshot();
    auto r = sys.ctl(args);
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(contains(r.err, why)) << r.err;
    EXPECT_EQ(sys.snapshot(), before);
}

std::string line_of(const std::string& text, const std::string& keyword) {
    for (const auto& l : split_lines(text))
        if (l.rfind(keyword + " ", 0) == 0)
            return l;
    return "";
}

}  // namespace

TEST(Enable, DebianAuditModeThenDisableRestoresEveryByte) {
    SystemRoot sys("debian12");
    const Snapshot before = sys.snapshot();
    auto r = sys.ctl({"enable"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "audit mode")) << r.out;

    // One decision point in audit mode too: sshd reads no file itself;
    // skgate-keys (root, then the skgate account) reads what it would have.
    const std::string dropin = read_file(sys.dropin());
    EXPECT_TRUE(contains(dropin, "AuthorizedKeysCommandUser root\n"));
    const std::string eff = sys.effective();
    EXPECT_EQ(line_of(eff, "authorizedkeyscommand"),
              "authorizedkeyscommand /usr/libexec/skgate/skgate-keys -f " + sys.conf() +
                  " -a .ssh/authorized_keys -a .ssh/authorized_keys2 %u %t %k %f");
    EXPECT_EQ(line_of(eff, "authorizedkeysfile"), "authorizedkeysfile none");
    // sshd's own revocation check, on the index skgatectl revoke keeps.
    EXPECT_EQ(line_of(eff, "revokedkeys"), "revokedkeys " + sys.root() + "/etc/skgate/revoked.krl");
    EXPECT_TRUE(KrlIndex::open(sys.root() + "/etc/skgate/revoked.krl").ok());
    EXPECT_EQ(line_of(eff, "exposeauthinfo"), "exposeauthinfo yes");
    EXPECT_EQ(line_of(eff, "kbdinteractiveauthentication"), "kbdinteractiveauthentication no");

    const std::string pam = read_file(sys.pam());
    EXPECT_TRUE(contains(pam, "session optional pam_skgate.so config=" + sys.conf() + "\n"));
    EXPECT_FALSE(contains(pam, "auth [success=done default=die]")) << "no --pam-confirm";
    EXPECT_TRUE(contains(read_file(sys.conf()), "\nMode audit\n"));

    auto st = sys.ctl({"status"});
    EXPECT_EQ(st.status, 0) << st.err;
    EXPECT_TRUE(contains(st.out, "mode:            audit")) << st.out;
    EXPECT_TRUE(contains(st.out, "(skgate)")) << st.out;
    EXPECT_TRUE(contains(st.out, "verify-required yes")) << st.out;

    auto d = sys.ctl({"disable"});
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_EQ(sys.snapshot(), before);
    EXPECT_EQ(line_of(sys.effective(), "authorizedkeyscommand"), "authorizedkeyscommand none");
    // A second disable has nothing to do and says so.
    auto again = sys.ctl({"disable"});
    EXPECT_EQ(again.status, 0);
    EXPECT_TRUE(contains(again.out, "not enabled")) << again.out;
}

TEST(Enable, EnforceIsRefusedWhileNobodyCouldLogIn) {
    SystemRoot sys("debian12");
    const Snapshot before = sys.snapshot();
    auto r = sys.ctl({"enable", "--mode", "enforce"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(contains(r.err, "would lock everyone out")) << r.err;
    EXPECT_EQ(sys.snapshot(), before) << "a refused enable changes nothing";

    sys.enroll("root");
    auto ok = sys.ctl({"enable", "--mode", "enforce"});
    ASSERT_EQ(ok.status, 0) << ok.err;
    const std::string eff = sys.effective();
    EXPECT_EQ(line_of(eff, "authorizedkeysfile"), "authorizedkeysfile none");
    EXPECT_EQ(line_of(eff, "pubkeyacceptedalgorithms"),
              "pubkeyacceptedalgorithms sk-ecdsa-sha2-nistp256@openssh.com,"
              "sk-ssh-ed25519@openssh.com");
    // The break-glass user keeps the algorithms sshd used before; its keys
    // come through skgate-keys too.
    const std::string rescue = sys.effective("rescue");
    EXPECT_EQ(line_of(rescue, "authorizedkeysfile"), "authorizedkeysfile none");
    EXPECT_TRUE(contains(line_of(rescue, "pubkeyacceptedalgorithms"), "ssh-ed25519,")) << rescue;

    ASSERT_EQ(sys.ctl({"disable"}).status, 0);
    // The enrolled key stays, by design; everything else is as before.
    Snapshot after = without_key_store(sys.snapshot());
    Snapshot expected = without_key_store(before);
    EXPECT_EQ(after, expected);
}

// A wildcard block applies to everyone, even when the account it is probed
// with is a break-glass user: it is not exempt from skgate's key types.
TEST(Enable, AWildcardBlockIsNotExemptAsBreakGlass) {
    SystemRoot sys("debian12");
    write_file(sys.conf(), SystemRoot::replace_all(read_file(sys.conf()), "BreakGlassUsers rescue",
                                                   "BreakGlassUsers root"));
    sys.enroll("root");
    write_file(sys.root() + "/etc/ssh/sshd_config.d/05-local.conf",
               "Match User *\n    PubkeyAcceptedAlgorithms ssh-ed25519\n");
    const Snapshot before = sys.snapshot();
    auto r = sys.ctl({"enable", "--mode", "enforce"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(contains(r.err,
                         "05-local.conf:1: Match User * makes sshd use "
                         "\"pubkeyacceptedalgorithms ssh-ed25519\" for root"))
        << r.err;
    EXPECT_EQ(sys.snapshot(), before);
}

// The shipped BreakGlassUsers root is no way in while root has no key sshd
// would accept: enforce is refused until it has one, and again once that
// key is revoked.
TEST(Enable, BreakGlassRootWithoutAKeyIsNobody) {
    SystemRoot sys("debian12");
    write_file(sys.conf(), SystemRoot::replace_all(read_file(sys.conf()), "BreakGlassUsers rescue",
                                                   "BreakGlassUsers root"));
    auto r = sys.ctl({"enable", "--mode", "enforce"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(contains(r.err, "would lock everyone out")) << r.err;
    auto forced = sys.ctl({"enable", "--mode", "enforce", "--force"});
    ASSERT_EQ(forced.status, 0) << forced.err;
    EXPECT_TRUE(contains(sys.ctl({"status"}).out,
                         "accepted with enable --force: enforce mode would lock everyone out\n"));
    ASSERT_EQ(sys.ctl({"disable"}).status, 0);

    const std::string key = std::string(trim(
        read_file(std::string(env_or_throw("SKGATE_VECTORS")) + "/openssh/sshkey/ed25519_1.pub")));
    fs::create_directories("/root/.ssh");
    chmod("/root/.ssh", 0700);
    write_file("/root/.ssh/authorized_keys", key + "\n", 0600);
    auto ok = sys.ctl({"enable", "--mode", "enforce"});
    EXPECT_EQ(ok.status, 0) << ok.err;
    ASSERT_EQ(sys.ctl({"disable"}).status, 0);

    write_file(sys.root() + "/key.pub", key + "\n");
    auto rv = run({env_or_throw("SKGATE_SKGATECTL"), "revoke", "-f", sys.conf(), "--user", "root",
                   "--key-file", sys.root() + "/key.pub"});
    ASSERT_EQ(rv.status, 0) << rv.err;
    auto revoked = sys.ctl({"enable", "--mode", "enforce"});
    EXPECT_EQ(revoked.status, 1);
    EXPECT_TRUE(contains(revoked.err, "would lock everyone out")) << revoked.err;
    fs::remove_all("/root/.ssh");
}

TEST(Enable, RhelEnforceWithPamConfirmation) {
    SystemRoot sys("rhel9");
    const Snapshot before = sys.snapshot();
    auto r = sys.ctl({"enable", "--mode", "enforce", "--pam-confirm", "--force"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "BatchMode=yes")) << "the cost is stated: " << r.out;

    const std::string eff = sys.effective();
    // skgate's drop-in sorts before 50-redhat.conf, whose crypto policy
    // would otherwise set the algorithms first.
    EXPECT_EQ(line_of(eff, "pubkeyacceptedalgorithms"),
              "pubkeyacceptedalgorithms sk-ecdsa-sha2-nistp256@openssh.com,"
              "sk-ssh-ed25519@openssh.com");
    EXPECT_EQ(line_of(eff, "authenticationmethods"),
              "authenticationmethods publickey,keyboard-interactive:pam");
    EXPECT_EQ(line_of(eff, "kbdinteractiveauthentication"), "kbdinteractiveauthentication yes");
    const std::string rescue = sys.effective("rescue");
    EXPECT_EQ(line_of(rescue, "authenticationmethods"), "authenticationmethods publickey");
    EXPECT_TRUE(contains(line_of(rescue, "pubkeyacceptedalgorithms"), "rsa-sha2-256-cert"))
        << "the crypto policy's list: " << rescue;
    EXPECT_EQ(line_of(rescue, "authorizedkeysfile"), "authorizedkeysfile none");
    EXPECT_TRUE(contains(line_of(eff, "authorizedkeyscommand"), " -a .ssh/authorized_keys %u"))
        << "RHEL reads only .ssh/authorized_keys: " << eff;

    // The confirmation rule comes before RHEL's password-auth substack.
    const auto lines = split_lines(read_file(sys.pam()));
    ASSERT_GE(lines.size(), 4u);
    EXPECT_EQ(lines[0], "#%PAM-1.0");
    EXPECT_TRUE(contains(lines[1], "Added by skgatectl enable"));
    // pam_skgate reads the files skgate-keys reads: RHEL's one, not sshd's default two.
    EXPECT_EQ(lines[2], "auth [success=done default=die] pam_skgate.so config=" + sys.conf() +
                            " keyfile=.ssh/authorized_keys");
    EXPECT_EQ(lines[3], "auth       substack     password-auth");

    ASSERT_EQ(sys.ctl({"disable"}).status, 0);
    EXPECT_EQ(sys.snapshot(), before);
}

TEST(Enable, AuditThenEnforceThenDisableReturnsToTheOriginal) {
    SystemRoot sys("debian12");
    const Snapshot before = sys.snapshot();
    ASSERT_EQ(sys.ctl({"enable"}).status, 0);
    auto r = sys.ctl({"enable", "--mode", "enforce", "--pam-confirm", "--force"});
    ASSERT_EQ(r.status, 0) << r.err;
    const std::string pam = read_file(sys.pam());
    EXPECT_EQ(split_lines(pam).size(), split_lines(before.at(sys.pam()).content).size() + 4)
        << "two rules with their comments, not stacked on the audit ones:\n"
        << pam;
    // Debian: the confirmation rule precedes @include common-auth.
    EXPECT_LT(pam.find("auth [success=done default=die] pam_skgate.so"),
              pam.find("@include common-auth"));
    ASSERT_EQ(sys.ctl({"disable"}).status, 0);
    EXPECT_EQ(sys.snapshot(), before);
}

// An sshd started with -o (a unit override, as EC2 Instance Connect installs
// one) or another -f would ignore the drop-in: enable refuses, names where
// it is and how to fix it, and status shows what sshd runs.
TEST(Enable, CommandLineOverridesAreRefused) {
    SystemRoot sys("debian12");
    sys.enroll("root");
    const Snapshot before = sys.snapshot();
    fs::create_directories(sys.systemd() + "/ssh.service.d");
    write_file(sys.systemd() + "/ssh.service.d/override.conf",
               "[Service]\nExecStart=\nExecStart=/usr/sbin/sshd -D -o "
               "\"AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys %u %f\" "
               "-o AuthorizedKeysCommandUser=ec2-instance-connect\n");
    const Snapshot with_override = sys.snapshot();
    auto r = sys.ctl({"enable", "--mode", "enforce"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(contains(r.err, "ssh.service.d/override.conf:3: ExecStart has -o")) << r.err;
    EXPECT_TRUE(contains(r.err, "systemctl edit ssh")) << r.err;
    EXPECT_EQ(sys.snapshot(), with_override);
    fs::remove_all(sys.systemd() + "/ssh.service.d");

    // Bundled flags, spaces around '=', and quotes in the environment file
    // are read as systemd and sshd read them.
    for (const auto& [file, text, says] :
         std::vector<std::tuple<std::string, std::string, std::string>>{
             {"/ssh.service.d/override.conf",
              "[Service]\nExecStart =\nExecStart = /usr/sbin/sshd -Do AuthorizedKeysCommand=none\n",
              "override.conf:3: ExecStart has -o AuthorizedKeysCommand=none"},
             {"/default-ssh", "SSHD_OPTS='-oAuthorizedKeysFile=.ssh/authorized_keys'\n",
              "default-ssh:1: -o AuthorizedKeysFile=.ssh/authorized_keys"}}) {
        fs::create_directories(sys.systemd() + "/ssh.service.d");
        write_file(sys.systemd() + file, text);
        auto refused = sys.ctl({"enable"});
        EXPECT_EQ(refused.status, 1) << text;
        EXPECT_TRUE(contains(refused.err, says)) << refused.err;
        fs::remove_all(sys.systemd() + "/ssh.service.d");
        fs::remove(sys.systemd() + "/default-ssh");
    }

    // A running sshd with -o on its command line.
    int port = free_port();
    auto started =
        run({"/usr/sbin/sshd", "-f", sys.sshd_config(), "-o", "Port=" + std::to_string(port), "-o",
             "ListenAddress=127.0.0.1", "-o", "AuthorizedKeysCommand=/usr/bin/true", "-o",
             "AuthorizedKeysCommandUser=nobody"});
    ASSERT_EQ(started.status, 0) << started.err;
    auto running = sys.ctl({"enable"});
    EXPECT_EQ(running.status, 1);
    EXPECT_TRUE(contains(running.err, "the running sshd (pid")) << running.err;
    EXPECT_TRUE(contains(running.err, "-o AuthorizedKeysCommand=/usr/bin/true")) << running.err;
    // Options skgate neither sets nor relies on are the unit's business.
    EXPECT_FALSE(contains(running.err, "-o Port=")) << running.err;
    EXPECT_FALSE(contains(running.err, "-o ListenAddress=")) << running.err;
    auto st = sys.ctl({"status"});
    EXPECT_TRUE(contains(st.out, "sshd runs:       /usr/sbin/sshd -f")) << st.out;
    EXPECT_TRUE(contains(st.out, "overrides skgate's drop-in")) << st.out;
    EXPECT_FALSE(contains(st.out, "(skgate)")) << st.out;
    std::string pid = std::string(trim(read_file(sys.root() + "/sshd.pid")));
    kill(std::stoi(pid), SIGTERM);
    EXPECT_EQ(sys.snapshot(), before);
}

// sshd -T alone shows the global values: an administrator's Match block (a
// drop-in sorting before skgate's) that gives some users a file of their own
// is found with sshd -T -C for a user it applies to, and enable stops,
// naming the file and line; --force accepts it and says so.
TEST(Enable, AMatchBlockThatOverridesSkgateIsFound) {
    SystemRoot sys("debian12");
    for (const auto& [block, who] : std::vector<std::pair<std::string, std::string>>{
             {"Match User skgt-alice\n    AuthorizedKeysFile .ssh/authorized_keys\n", "skgt-alice"},
             // Only wildcards and negations: probed for an account it matches.
             {"Match User skgt-al*,!root\n    AuthorizedKeysFile .ssh/authorized_keys\n",
              "skgt-alice"},
             {"Match Group skgt-adm*\n    AuthorizedKeysFile .ssh/authorized_keys\n", "skgt-alice"},
             // Quoted, as sshd reads it; a wildcard address is probed with one it matches.
             {"Match User \"skgt-alice\"\n    AuthorizedKeysFile .ssh/authorized_keys\n",
              "skgt-alice"},
             {"Match Address 10.1.*\n    AuthorizedKeysFile .ssh/authorized_keys\n", "root"},
             // A block for another listening port is probed on that port.
             {"Match LocalPort 2222\n    AuthorizedKeysFile .ssh/authorized_keys\n", "root"},
             {"Match Group skgt-admins\n    AuthorizedKeysCommand /usr/bin/true\n"
              "    AuthorizedKeysCommandUser nobody\n",
              "skgt-alice"}}) {
        write_file(sys.root() + "/etc/ssh/sshd_config.d/05-local.conf", block);
        const Snapshot before = sys.snapshot();
        auto r = sys.ctl({"enable"});
        EXPECT_EQ(r.status, 1) << block;
        EXPECT_TRUE(contains(
            r.err, "05-local.conf:1: " + block.substr(0, block.find('\n')) + " makes sshd use"))
            << r.err;
        EXPECT_TRUE(contains(r.err, "for " + who + ",")) << r.err;
        EXPECT_EQ(sys.snapshot(), before);
    }
    auto forced = sys.ctl({"enable", "--force"});
    EXPECT_EQ(forced.status, 0) << forced.err;
    EXPECT_TRUE(contains(forced.out, "--force: accepted")) << forced.out;
    // status keeps saying what was accepted, until an enable without it.
    auto st = sys.ctl({"status"});
    EXPECT_TRUE(contains(st.out, "accepted with enable --force: ")) << st.out;
    EXPECT_TRUE(contains(st.out, "05-local.conf:1: Match Group skgt-admins makes sshd use"))
        << st.out;
    auto js = sys.ctl({"status", "--json"});
    EXPECT_TRUE(contains(js.out, "\"accepted_with_force\":[\"")) << js.out;
    fs::remove(sys.root() + "/etc/ssh/sshd_config.d/05-local.conf");
    ASSERT_EQ(sys.ctl({"enable"}).status, 0);
    EXPECT_FALSE(contains(sys.ctl({"status"}).out, "accepted with enable --force")) << "cleared";
    ASSERT_EQ(sys.ctl({"disable"}).status, 0);
}

// A certificate from a TrustedUserCAKeys authority and a host key under
// HostbasedAuthentication log in without skgate-keys being asked: enable
// stops, globally and in a Match block, and --force accepts and records it.
TEST(Enable, CertificateAuthoritiesAndHostbasedAreOtherWaysIn) {
    SystemRoot sys("debian12");
    write_file(sys.root() + "/etc/ssh/user_ca.pub", "");
    for (const auto& [block, says] : std::vector<std::pair<std::string, std::string>>{
             {"TrustedUserCAKeys " + sys.root() + "/etc/ssh/user_ca.pub\n",
              "sshd_config makes sshd use TrustedUserCAKeys " + sys.root()},
             {"Match User skgt-alice\n    HostbasedAuthentication yes\n",
              "05-local.conf:1: Match User skgt-alice for skgt-alice makes sshd use "
              "HostbasedAuthentication yes"}}) {
        write_file(sys.root() + "/etc/ssh/sshd_config.d/05-local.conf", block);
        const Snapshot before = sys.snapshot();
        auto r = sys.ctl({"enable"});
        EXPECT_EQ(r.status, 1) << block;
        EXPECT_TRUE(contains(r.err, says)) << r.err;
        EXPECT_TRUE(contains(r.err, "without skgate-keys")) << r.err;
        EXPECT_EQ(sys.snapshot(), before);
    }
    auto forced = sys.ctl({"enable", "--force"});
    ASSERT_EQ(forced.status, 0) << forced.err;
    const std::string st = sys.ctl({"status"}).out;
    EXPECT_TRUE(contains(st, "accepted with enable --force: " + sys.root() +
                                 "/etc/ssh/sshd_config.d/05-local.conf:1: Match User skgt-alice "
                                 "for skgt-alice makes sshd use HostbasedAuthentication yes"))
        << st;
    ASSERT_EQ(sys.ctl({"disable"}).status, 0);
}

// A RevokedKeys sshd already reads would be replaced by skgate's: keys
// revoked there would log in again, so enable stops and says what to do.
TEST(Enable, AnExistingRevokedKeysIsNotReplacedSilently) {
    SystemRoot sys("debian12");
    write_file(sys.root() + "/etc/ssh/sshd_config.d/05-local.conf",
               "RevokedKeys " + sys.root() + "/etc/ssh/revoked_keys\n");
    write_file(sys.root() + "/etc/ssh/revoked_keys", "");
    const Snapshot before = sys.snapshot();
    auto r = sys.ctl({"enable"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(
        contains(r.err, "sshd already reads RevokedKeys " + sys.root() + "/etc/ssh/revoked_keys"))
        << r.err;
    EXPECT_EQ(sys.snapshot(), before);
}

// Configuration management runs enable and disable again and again: a run
// that would change nothing says "unchanged", exits 0 and writes nothing;
// --dry-run prints the diff it would apply and writes nothing either.
TEST(Enable, RepeatedRunsAreUnchangedAndDryRunWritesNothing) {
    SystemRoot sys("debian12");
    const Snapshot before = sys.snapshot();
    auto dry = sys.ctl({"enable", "--dry-run"});
    ASSERT_EQ(dry.status, 0) << dry.err;
    EXPECT_TRUE(contains(dry.out, "+AuthorizedKeysFile none\n")) << dry.out;
    EXPECT_TRUE(contains(dry.out, "+Mode audit\n")) << dry.out;
    EXPECT_TRUE(contains(dry.out, "+session optional pam_skgate.so")) << dry.out;
    EXPECT_EQ(sys.snapshot(), before) << "a dry run writes nothing";
    EXPECT_FALSE(fs::exists(sys.root() + "/var/lib/skgate/enable/record"));

    ASSERT_EQ(sys.ctl({"enable"}).status, 0);
    const Snapshot enabled = sys.snapshot();
    auto again = sys.ctl({"enable"});
    EXPECT_EQ(again.status, 0) << again.err;
    EXPECT_TRUE(contains(again.out, "unchanged")) << again.out;
    EXPECT_EQ(sys.snapshot(), enabled);
    auto dry_again = sys.ctl({"enable", "--dry-run"});
    EXPECT_TRUE(contains(dry_again.out, "nothing would change")) << dry_again.out;
    auto dry_enforce = sys.ctl({"enable", "--mode", "enforce", "--force", "--dry-run"});
    EXPECT_TRUE(contains(dry_enforce.out, "+PubkeyAcceptedAlgorithms sk-")) << dry_enforce.out;
    EXPECT_EQ(sys.snapshot(), enabled);

    ASSERT_EQ(sys.ctl({"disable"}).status, 0);
    auto off = sys.ctl({"disable"});
    EXPECT_EQ(off.status, 0);
    EXPECT_TRUE(contains(off.out, "unchanged")) << off.out;
    EXPECT_EQ(sys.snapshot(), before);
}

// The rollout: audit, then an edit of skgate.conf that check-config accepts,
// then enforce, without a disable in between; disable keeps the edit and
// gives back only the Mode line.
TEST(Enable, AuditThenAPolicyEditThenEnforce) {
    SystemRoot sys("debian12");
    const std::string original = read_file(sys.conf());
    ASSERT_EQ(sys.ctl({"enable"}).status, 0);
    write_file(sys.conf(), read_file(sys.conf()) + "Match User rescue\n  TouchRequired no\n");
    auto check = run({env_or_throw("SKGATE_SKGATECTL"), "check-config", "-f", sys.conf()});
    ASSERT_EQ(check.status, 0) << check.err;
    sys.enroll("root");
    auto r = sys.ctl({"enable", "--mode", "enforce"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(contains(read_file(sys.conf()), "\nMode enforce\n"));
    EXPECT_TRUE(contains(read_file(sys.conf()), "Match User rescue\n  TouchRequired no\n"));
    ASSERT_EQ(sys.ctl({"disable"}).status, 0);
    EXPECT_EQ(read_file(sys.conf()), original + "Match User rescue\n  TouchRequired no\n")
        << "the administrator's edit stays; skgate's Mode line goes";
}

// skgate.conf(5): an edit made after the last enable stays, and disable
// still puts the Mode line back as it was.
TEST(Enable, DisableAfterAPolicyEditKeepsItAndGivesBackTheModeLine) {
    SystemRoot sys("debian12");
    const std::string original = read_file(sys.conf());
    ASSERT_EQ(sys.ctl({"enable"}).status, 0);
    ASSERT_TRUE(contains(read_file(sys.conf()), "\nMode audit\n"));
    write_file(sys.conf(), read_file(sys.conf()) + "Match User rescue\n  TouchRequired no\n");
    auto d = sys.ctl({"disable"});
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_TRUE(contains(d.out, "kept the edits, put the Mode line back")) << d.out;
    EXPECT_EQ(read_file(sys.conf()), original + "Match User rescue\n  TouchRequired no\n");
}

TEST(Enable, FailedSshdTestLeavesEverythingUntouched) {
    SystemRoot sys("debian12");
    const Snapshot before = sys.snapshot();
    // sshd -t refuses an AuthorizedKeysCommand that is not an absolute path.
    auto r = sys.ctl({"enable", "--helper", "libexec/skgate-keys"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(contains(r.err, "sshd -t refused")) << r.err;
    EXPECT_TRUE(contains(r.err, "absolute path")) << "sshd's own words: " << r.err;
    EXPECT_TRUE(contains(r.err, "nothing was changed")) << r.err;
    EXPECT_EQ(sys.snapshot(), before);
    EXPECT_FALSE(fs::exists(sys.root() + "/var/lib/skgate/enable/record"));
}

TEST(Enable, AnEarlierDropinThatWinsIsRefused) {
    SystemRoot sys("debian12");
    // An administrator's customisation sorting before skgate's drop-in.
    write_file(sys.root() + "/etc/ssh/sshd_config.d/05-local.conf",
               "AuthorizedKeysFile .ssh/authorized_keys\nPasswordAuthentication no\n");
    sys.enroll("root");
    const Snapshot before = sys.snapshot();
    auto r = sys.ctl({"enable", "--mode", "enforce"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(contains(r.err, "authorizedkeysfile .ssh/authorized_keys")) << r.err;
    EXPECT_EQ(sys.snapshot(), before);
    // Audit mode too: a file sshd reads itself would bypass skgate's record.
    auto a = sys.ctl({"enable"});
    EXPECT_EQ(a.status, 1);
    EXPECT_TRUE(contains(a.err, "authorizedkeysfile .ssh/authorized_keys")) << a.err;
    EXPECT_EQ(sys.snapshot(), before);
}

TEST(Enable, AnotherAuthorizedKeysCommandIsNotOverriddenSilently) {
    SystemRoot sys("debian12");
    write_file(sys.root() + "/etc/ssh/sshd_config.d/60-oslogin.conf",
               "AuthorizedKeysCommand /usr/bin/google_authorized_keys\n"
               "AuthorizedKeysCommandUser root\n");
    const Snapshot before = sys.snapshot();
    auto r = sys.ctl({"enable"});
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(contains(r.err, "/usr/bin/google_authorized_keys")) << r.err;
    EXPECT_TRUE(contains(r.err, "--replace-existing")) << r.err;
    EXPECT_EQ(sys.snapshot(), before);

    auto ok = sys.ctl({"enable", "--replace-existing"});
    ASSERT_EQ(ok.status, 0) << ok.err;
    EXPECT_TRUE(contains(line_of(sys.effective(), "authorizedkeyscommand"), "skgate-keys"));
    EXPECT_EQ(sys.ctl({"disable"}).status, 0);
    EXPECT_EQ(sys.snapshot(), before);
}

// --chain: the cloud's own command becomes skgate's command source; sshd
// runs skgate-keys; disable gives every byte back, the cloud's drop-in
// having never been touched.
TEST(Enable, ChainRunsTheOtherAuthorizedKeysCommandAsTheCommandSource) {
    SystemRoot sys("debian12");
    const std::string eic = sys.root() + "/usr/share/ec2-instance-connect/eic_run_authorized_keys";
    fs::create_directories(sys.root() + "/usr/share/ec2-instance-connect");
    write_file(eic, "#!/bin/sh\n", 0755);
    write_file(sys.root() + "/etc/ssh/sshd_config.d/60-ec2-instance-connect.conf",
               "AuthorizedKeysCommand " + eic +
                   " %u %f\nAuthorizedKeysCommandUser ec2-instance-connect\n");
    const Snapshot before = sys.snapshot();
    auto dry = sys.ctl({"enable", "--chain", "--dry-run"});
    ASSERT_EQ(dry.status, 0) << dry.err;
    EXPECT_TRUE(contains(dry.out, "+KeysCommand " + eic + " %u %f")) << dry.out;
    EXPECT_EQ(sys.snapshot(), before);

    auto r = sys.ctl({"enable", "--chain"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(
        contains(r.out, "chained: skgate-keys runs \"" + eic + " %u %f\" as ec2-instance-connect"))
        << r.out;
    EXPECT_TRUE(contains(line_of(sys.effective(), "authorizedkeyscommand"), "skgate-keys"));
    EXPECT_EQ(line_of(sys.effective(), "authorizedkeyscommanduser"),
              "authorizedkeyscommanduser root");
    const std::string conf = read_file(sys.conf());
    EXPECT_TRUE(contains(conf, "\nKeySources local command\n")) << conf;
    EXPECT_TRUE(contains(conf, "\nKeysCommandUser ec2-instance-connect\n")) << conf;
    auto check = run({env_or_throw("SKGATE_SKGATECTL"), "check-config", "-f", sys.conf()});
    EXPECT_EQ(check.status, 0) << check.out << check.err;
    // The account does not exist here: the command source would give no keys.
    EXPECT_TRUE(contains(r.out, "warning: KeysCommandUser ec2-instance-connect: ")) << r.out;

    // Configuration management runs it again: unchanged, exit 0.
    auto again = sys.ctl({"enable", "--chain"});
    EXPECT_EQ(again.status, 0) << again.err;
    EXPECT_TRUE(contains(again.out, "unchanged")) << again.out;

    auto d = sys.ctl({"disable"});
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_EQ(sys.snapshot(), before);
    EXPECT_TRUE(
        contains(line_of(sys.effective(), "authorizedkeyscommand"), "eic_run_authorized_keys"));
}

// A token sshd would give the command but skgate-keys is not given, or no
// AuthorizedKeysCommandUser: refused, nothing written.
TEST(Enable, ChainRefusesACommandItCannotRunAsSshdDid) {
    {
        SystemRoot sys("debian12");
        write_file(sys.root() + "/etc/ssh/sshd_config.d/60-other.conf",
                   "AuthorizedKeysCommand /usr/bin/other-keys %C %u\n"
                   "AuthorizedKeysCommandUser nobody\n");
        expect_refused_untouched(sys, {"enable", "--chain"}, "unknown token %C");
    }
    {
        SystemRoot sys("debian12");
        expect_refused_untouched(sys, {"enable", "--chain"},
                                 "sshd runs no AuthorizedKeysCommand to chain");
    }
    {
        // A program sshd could not run either (missing, or writable by others).
        SystemRoot sys("debian12");
        write_file(
            sys.root() + "/etc/ssh/sshd_config.d/60-other.conf",
            "AuthorizedKeysCommand /nonexistent/keys %u\nAuthorizedKeysCommandUser nobody\n");
        expect_refused_untouched(sys, {"enable", "--chain"}, "/nonexistent/keys: No such file");
    }
    {
        SystemRoot sys("debian12");
        write_file(sys.conf(), read_file(sys.conf()) + "Match User a\n  KeySources ldap\n");
        write_file(sys.root() + "/etc/ssh/sshd_config.d/60-other.conf",
                   "AuthorizedKeysCommand /usr/bin/true %u\n"
                   "AuthorizedKeysCommandUser nobody\n");
        expect_refused_untouched(sys, {"enable", "--chain"}, "only in Match blocks");
    }
}

// An edit after enable --chain stays through disable; only what enable
// added (the command source, KeysCommand, KeysCommandUser, Mode) goes.
TEST(Enable, DisableAfterChainKeepsThePolicyEdit) {
    SystemRoot sys("debian12");
    write_file(sys.root() + "/etc/ssh/sshd_config.d/60-sss.conf",
               "AuthorizedKeysCommand /usr/bin/true %u\n"
               "AuthorizedKeysCommandUser nobody\n");
    const std::string original = read_file(sys.conf());
    ASSERT_EQ(sys.ctl({"enable", "--chain"}).status, 0);
    write_file(sys.conf(), read_file(sys.conf()) + "Match User skgt-bob\n  TouchRequired no\n");
    auto d = sys.ctl({"disable"});
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_EQ(read_file(sys.conf()), original + "Match User skgt-bob\n  TouchRequired no\n");
}

TEST(Enable, DisableKeepsWhatTheAdministratorChangedSince) {
    SystemRoot sys("debian12");
    ASSERT_EQ(sys.ctl({"enable"}).status, 0);
    std::string pam = read_file(sys.pam());
    write_file(sys.pam(), pam + "session optional pam_admin_added.so\n");
    auto st = sys.ctl({"status"});
    EXPECT_TRUE(contains(st.out, sys.pam() + " changed since skgatectl enable")) << st.out;
    // enable again refuses to build on a file it no longer knows
    EXPECT_EQ(sys.ctl({"enable", "--pam-confirm"}).status, 1);
    auto d = sys.ctl({"disable"});
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_TRUE(contains(d.out, "took out only skgate's lines")) << d.out;
    const std::string after = read_file(sys.pam());
    EXPECT_FALSE(contains(after, "pam_skgate"));
    EXPECT_TRUE(contains(after, "session optional pam_admin_added.so\n"));
}

TEST(Enable, RefusesPamFilesAndConfigsItCannotWireSafely) {
    {
        SystemRoot sys("debian12");
        write_file(sys.pam(), read_file(sys.pam()) + "session optional pam_skgate.so debug\n");
        expect_refused_untouched(sys, {"enable"}, "already loads pam_skgate");
    }
    {
        SystemRoot sys("debian12");
        std::string cfg = read_file(sys.sshd_config());
        size_t inc = cfg.find("\nInclude ");
        cfg.replace(inc + 1, 7, "#nclude");
        write_file(sys.sshd_config(), cfg);
        expect_refused_untouched(sys, {"enable"}, "does not read");
    }
    {
        SystemRoot sys("debian12");
        auto r = sys.ctl({"enable", "--mode", "paranoid"});
        EXPECT_EQ(r.status, 2);
    }
    {
        // sshd takes this pattern; in pam_skgate's PAM line the '#' would
        // start a comment, so the confirmation would read another file.
        SystemRoot sys("debian12");
        std::string cfg = read_file(sys.sshd_config());
        cfg.insert(0, "AuthorizedKeysFile .ssh/authorized_keys .ssh/keys#%u\n");
        write_file(sys.sshd_config(), cfg);
        expect_refused_untouched(sys, {"enable"}, "has a '#'");
    }
}

TEST(Enable, ReloadsTheRunningSshdAndRecordsTheChange) {
    SystemRoot sys("debian12");
    std::string cfg = read_file(sys.sshd_config());
    int port = 20000 + static_cast<int>(getpid() % 20000);
    cfg.insert(0, "Port " + std::to_string(port) + "\nListenAddress 127.0.0.1\n");
    write_file(sys.sshd_config(), cfg);
    Process sshd({"/usr/sbin/sshd", "-D", "-f", sys.sshd_config(), "-E", sys.root() + "/sshd.log"},
                 {}, sys.root() + "/sshd.out");
    for (int i = 0; i < 100 && !fs::exists(sys.root() + "/sshd.pid"); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(fs::exists(sys.root() + "/sshd.pid")) << read_file(sys.root() + "/sshd.log");

    auto r = sys.ctl({"enable"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(contains(r.out, "reloaded sshd")) << r.out;
    bool reloaded = false;
    for (int i = 0; i < 100 && !reloaded; i++) {
        reloaded = contains(read_file(sys.root() + "/sshd.log"), "Received SIGHUP");
        if (!reloaded)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(reloaded) << read_file(sys.root() + "/sshd.log");
    // skgatectl(8): disable --no-reload leaves the running sshd alone.
    auto d = sys.ctl({"disable", "--no-reload"});
    ASSERT_EQ(d.status, 0) << d.err;
    EXPECT_TRUE(contains(d.out, "sshd was not reloaded (--no-reload)")) << d.out;
    EXPECT_FALSE(contains(d.out, "reloaded sshd (pid")) << d.out;

    // Both changes are in the journal as config-change events.
    std::string events;
    for (int i = 0; i < 100; i++) {
        events = sys.ctl({"audit", "--event", "config-change", "--json"}).out;
        if (contains(events, "skgate disabled"))
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(contains(events, "skgate enabled in audit mode")) << events;
    EXPECT_TRUE(contains(events, "\"identifier\":\"skgatectl\"")) << events;
}

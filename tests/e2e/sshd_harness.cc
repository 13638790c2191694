#include "tests/e2e/sshd_harness.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/store/revocation.h"

namespace skgate::test {

namespace {

bool port_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    return ok;
}

}  // namespace

std::string SshdHarness::e2e_dir() {
    const char* d = std::getenv("SKGATE_E2E_DIR");
    return d ? d : "";
}

SshdHarness::SshdHarness(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    chmod(dir_.c_str(), 0755);
    if (!std::filesystem::exists(path("host_ed25519"))) {
        auto r = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path("host_ed25519")});
        if (r.status != 0)
            throw std::runtime_error("host key: " + r.err);
    }
    std::filesystem::create_directories(path("keys"));
    chmod(path("keys").c_str(), 0700);
}

SshdHarness::~SshdHarness() {
    stop();
}

void SshdHarness::start(const std::string& extra, const std::string& sshd) {
    stop();
    for (int attempt = 0; attempt < 5; attempt++) {
        port_ = free_port();
        write_file(path("sshd_config"),
                   "Port " + std::to_string(port_) + "\nListenAddress 127.0.0.1\nHostKey " +
                       path("host_ed25519") +
                       "\nPidFile none\nKexAlgorithms curve25519-sha256\nLogLevel VERBOSE\n"
                       "PasswordAuthentication no\nStrictModes yes\n" +
                       extra,
                   0644);
        auto t = run({sshd, "-t", "-f", path("sshd_config")});
        if (t.status != 0)
            throw std::runtime_error("sshd -t refused the test config: " + t.err);
        std::filesystem::remove(path("sshd.log"));
        log_offset_ = 0;
        pid_ = fork();
        if (pid_ == 0) {
            execl(sshd.c_str(), sshd.c_str(), "-D", "-f", path("sshd_config").c_str(), "-E",
                  path("sshd.log").c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        for (int i = 0; i < 100; i++) {
            if (port_open(port_))
                return;
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                break;  // could not bind; try another port
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        stop();
    }
    throw std::runtime_error("sshd did not start: " + read_file(path("sshd.log")));
}

void SshdHarness::start_with_skgate_keys(const std::string& policy, const std::string& extra_sshd) {
    write_file(path("skgate.conf"), "KeysDirectory " + path("keys.d") + "\nRevokedKeys " +
                                        path("revoked") + "\n" + policy);
    start(
        "UsePAM no\nKbdInteractiveAuthentication no\nAuthorizedKeysFile none\n"
        "AuthorizedKeysCommand " +
        path("libexec/skgate-keys") + " -f " + path("skgate.conf") +
        " %u %t %k %f\nAuthorizedKeysCommandUser skgate\n"
        "PubkeyAcceptedAlgorithms sk-ecdsa-sha2-nistp256@openssh.com,"
        "sk-ssh-ed25519@openssh.com,ssh-ed25519\n" +
        extra_sshd);
    new_log();
}

void SshdHarness::start_enabled(const std::string& policy, const wiring::Options& options,
                                const std::string& before, const std::string& after) {
    write_file(path("skgate.conf"), "KeysDirectory " + path("keys.d") + "\nRevokedKeys " +
                                        path("revoked") + "\nStateDirectory " + path("state") +
                                        "\nMode " + std::string(to_string(options.mode)) + "\n" +
                                        policy);
    auto index = RevocationList::rebuild_index(path("revoked"));
    if (!index)
        throw std::runtime_error("revocation index: " + index.error().message);
    wiring::Options o = options;
    o.helper = path("libexec/skgate-keys");
    o.config_path = path("skgate.conf");
    o.revoked_keys = krl_path_for(path("revoked"));
    start("UsePAM no\nKbdInteractiveAuthentication no\n" + before + wiring::render_dropin(o) +
          after);
    new_log();
}

void SshdHarness::stop() {
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

std::string SshdHarness::install_helper() {
    std::filesystem::create_directories(path("libexec"));
    std::filesystem::copy_file(required_env("SKGATE_KEYS"), path("libexec/skgate-keys"),
                               std::filesystem::copy_options::overwrite_existing);
    chmod(path("libexec").c_str(), 0755);
    chmod(path("libexec/skgate-keys").c_str(), 0755);
    // skgate-keys runs the skgate-fetch beside it for the remote sources.
    if (const char* fetch = std::getenv("SKGATE_FETCH")) {
        std::filesystem::copy_file(fetch, path("libexec/skgate-fetch"),
                                   std::filesystem::copy_options::overwrite_existing);
        chmod(path("libexec/skgate-fetch").c_str(), 0755);
    }
    return path("libexec/skgate-keys");
}

std::string SshdHarness::make_key(const std::string& name, const std::string& type,
                                  const std::vector<std::string>& extra) {
    std::string f = path("keys/" + name);
    std::filesystem::remove(f);
    std::filesystem::remove(f + ".pub");
    std::vector<std::string> args{"ssh-keygen", "-q", "-t", type, "-N", "", "-f", f, "-C", name};
    if (type.ends_with("-sk")) {
        args.push_back("-w");
        args.push_back(required_env("SKGATE_TEST_SK_PROVIDER"));
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = run(args);
    if (r.status != 0)
        throw std::runtime_error("ssh-keygen " + type + ": " + r.err);
    return f;
}

RunResult SshdHarness::enroll_generated(const std::string& user, const std::string& pub,
                                        const std::string& name) {
    std::string base = pub.substr(0, pub.size() - 4);
    return run({required_env("SKGATE_SKGATECTL"), "enroll", "-f", path("skgate.conf"), "--user",
                user, "--key-file", pub, "--name", name, "--attestation", base + ".attestation",
                "--challenge", base + ".challenge"});
}

RunResult SshdHarness::login(const std::string& user, const std::string& key,
                             const std::map<std::string, std::string>& env,
                             const std::string& command, const std::vector<std::string>& options) {
    std::vector<std::string> args{"ssh", "-F", "/dev/null", "-p", std::to_string(port_), "-i", key};
    for (const auto& o : options) {
        args.push_back("-o");
        args.push_back(o);
    }
    for (const std::string o :
         {"IdentitiesOnly=yes", "IdentityAgent=none", "StrictHostKeyChecking=no",
          "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "ConnectTimeout=10"}) {
        args.push_back("-o");
        args.push_back(o);
    }
    args.push_back("-o");
    args.push_back("SecurityKeyProvider=" + required_env("SKGATE_TEST_SK_PROVIDER"));
    args.push_back(user + "@127.0.0.1");
    args.push_back(command);
    return run(args, "", env);
}

std::string SshdHarness::new_log() {
    // sshd's child processes may still be writing after the client returns.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::string all;
    try {
        all = read_file(path("sshd.log"));
    } catch (...) {
        return "";
    }
    std::string out = all.substr(std::min(log_offset_, all.size()));
    log_offset_ = all.size();
    return out;
}

namespace {

// The JSON lines written at or after `mark_us` (journalctl's --after-cursor
// misses entries in the per-user journal files of set-uid programs).
std::string entries_since(const std::string& json_lines, uint64_t mark_us) {
    const std::string field = "\"__REALTIME_TIMESTAMP\":\"";
    std::istringstream in(json_lines);
    std::string out;
    for (std::string line; std::getline(in, line);) {
        size_t at = line.find(field);
        uint64_t t = at == std::string::npos
                         ? 0
                         : std::strtoull(line.c_str() + at + field.size(), nullptr, 10);
        if (t >= mark_us)
            out += line + "\n";
    }
    return out;
}

}  // namespace

std::string SshdHarness::journal(const std::vector<std::string>& matches,
                                 const std::string& containing) {
    std::vector<std::string> args{"journalctl", "-D",   required_env("SKGATE_JOURNAL_DIR"),
                                  "-o",         "json", "--no-pager"};
    args.insert(args.end(), matches.begin(), matches.end());
    for (int i = 0; i < 200; i++) {
        std::string out = entries_since(run(args).out, journal_mark_us_);
        if (!out.empty() && out.find(containing) != std::string::npos)
            return out;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return "";
}

void SshdHarness::mark_journal() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    journal_mark_us_ =
        static_cast<uint64_t>(now.tv_sec) * 1'000'000 + static_cast<uint64_t>(now.tv_nsec) / 1000;
}

}  // namespace skgate::test

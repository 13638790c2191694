#include "tests/support/client_rig.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace skgate::test {

namespace {

std::string binary(const char* var) {
    const char* v = std::getenv(var);
    if (!v || !*v)
        throw std::runtime_error(std::string(var) + " is not set (meson test sets it)");
    return v;
}

}  // namespace

ClientRig::ClientRig(std::string dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(agent_home());
    std::filesystem::create_directories(dir_ + "/phone");
    chmod(agent_home().c_str(), 0700);
    chmod((dir_ + "/phone").c_str(), 0700);
    write_file(passphrase_file(), "correct horse battery\n", 0600);
}

ClientRig::~ClientRig() {
    stop_authenticator();
    other_authenticators_.clear();
    stop_agent();
}

void ClientRig::use_phone(const std::string& phone, const std::string& name) {
    if (!name.empty())
        phone_names_[phone] = name;
    if (phone == phone_)
        return;
    other_authenticators_[phone_] = std::move(authenticator_);
    authenticator_ = std::move(other_authenticators_[phone]);
    other_authenticators_.erase(phone);
    phone_ = phone;
    std::filesystem::create_directories(phone_home());
    chmod(phone_home().c_str(), 0700);
}

std::map<std::string, std::string> ClientRig::agent_env() const {
    return {{"HOME", agent_home()}, {"SKGATE_AGENT_DIR", ""}};
}

std::map<std::string, std::string> ClientRig::authenticator_env() const {
    return {{"HOME", phone_home()}, {"SKGATE_AUTHENTICATOR_DIR", ""}};
}

void ClientRig::use_network_namespaces(const std::string& laptop, const std::string& phone) {
    laptop_ns_ = laptop;
    phone_ns_ = phone;
}

namespace {

std::vector<std::string> in_namespace(const std::string& ns, std::vector<std::string> argv) {
    if (ns.empty())
        return argv;
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    return argv;
}

}  // namespace

std::vector<std::string> ClientRig::in_laptop(std::vector<std::string> argv) const {
    return in_namespace(laptop_ns_, std::move(argv));
}

std::vector<std::string> ClientRig::in_phone(std::vector<std::string> argv) const {
    return in_namespace(phone_ns_, std::move(argv));
}

void ClientRig::init_authenticator() {
    auto r =
        run({binary("SKGATE_AUTHENTICATOR_BIN"), "init", "--passphrase-file", passphrase_file()},
            "", authenticator_env());
    if (r.status != 0)
        throw std::runtime_error("authenticator init failed: " + r.err);
}

void ClientRig::start_agent(const std::vector<std::string>& extra) {
    std::vector<std::string> argv{binary("SKGATE_AGENT_BIN"), "run"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // A fresh log per start: an earlier run's "listening on" proves nothing.
    agent_ = std::make_unique<Process>(in_laptop(argv), agent_env(),
                                       dir_ + "/agent-" + std::to_string(++log_serial_) + ".log");
    if (!agent_->wait_for_output("listening on", 5000))
        throw std::runtime_error("skgate-agent did not start: " + agent_->output());
}

void ClientRig::stop_agent() {
    agent_.reset();
}

PairOutcome ClientRig::pair(const std::string& typed, const std::vector<std::string>& extra) {
    std::string n = std::to_string(++log_serial_);
    std::vector<std::string> argv{binary("SKGATE_AGENT_BIN"), "pair", "--no-qr", "--timeout", "20"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Process agent(in_laptop(argv), agent_env(), dir_ + "/pair-agent-" + n + ".log");
    if (!agent.wait_for_output("Waiting for the authenticator", 20000))
        throw std::runtime_error("skgate-agent pair did not start: " + agent.output());
    std::string uri = "skgate-pair:" + word_after(agent.output(), "skgate-pair:");
    Process auth(in_phone({binary("SKGATE_AUTHENTICATOR_BIN"), "pair", uri, "--passphrase-file",
                           passphrase_file(), "--name", phone_name()}),
                 authenticator_env(), dir_ + "/pair-auth-" + n + ".log");
    PairOutcome out;
    if (auth.wait_for_output("Confirmation code: ", 10000) &&
        agent.wait_for_output("Type the code", 10000)) {
        std::string code = word_after(auth.output(), "Confirmation code: ");
        agent.write_stdin((typed.empty() ? code : typed) + "\n");
    }
    agent.close_stdin();
    out.agent_status = agent.wait(15000);
    out.authenticator_status = auth.wait(15000);
    out.agent_output = agent.output();
    out.authenticator_output = auth.output();
    return out;
}

void ClientRig::start_authenticator(const std::string& approve,
                                    const std::vector<std::string>& extra,
                                    const std::map<std::string, std::string>& env) {
    std::vector<std::string> argv{binary("SKGATE_AUTHENTICATOR_BIN"),
                                  "run",
                                  "--approve",
                                  approve,
                                  "--passphrase-file",
                                  passphrase_file()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto full_env = authenticator_env();
    for (const auto& [k, v] : env)
        full_env[k] = v;
    authenticator_ = std::make_unique<Process>(
        in_phone(argv), full_env,
        dir_ + "/authenticator-" + std::to_string(++log_serial_) + ".log");
    if (!authenticator_->wait_for_output("waiting for requests", 10000))
        throw std::runtime_error("skgate-authenticator did not connect: " +
                                 authenticator_->output());
}

namespace {

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

}  // namespace

void ClientRig::start_authenticator_on_terminal(const std::vector<std::string>& extra) {
    std::string command = shell_quote(binary("SKGATE_AUTHENTICATOR_BIN")) +
                          " run --approve ask --passphrase-file " + shell_quote(passphrase_file());
    for (const auto& e : extra)
        command += " " + shell_quote(e);
    // script(1) gives the program a pty as its controlling terminal, so its
    // /dev/tty is that pty, and copies our stdin to it (what the person types).
    authenticator_ = std::make_unique<Process>(
        std::vector<std::string>{"script", "-qfec", command, "/dev/null"}, authenticator_env(),
        dir_ + "/authenticator-" + std::to_string(++log_serial_) + ".log");
    if (!authenticator_->wait_for_output("waiting for requests", 10000))
        throw std::runtime_error("skgate-authenticator did not connect: " +
                                 authenticator_->output());
}

void ClientRig::wait_until_agent_sees_no_authenticator() {
    for (int i = 0; i < 600; i++) {
        if (agent_command({"status"}).out.find("authenticator: disconnected") != std::string::npos)
            return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("skgate-agent still shows an authenticator: " + agent_log());
}

void ClientRig::type_on_authenticator(const std::string& text) {
    authenticator_->write_stdin(text);
}

bool ClientRig::wait_for_authenticator(const std::string& text, int timeout_ms) {
    return authenticator_->wait_for_output(text, timeout_ms);
}

void ClientRig::stop_authenticator() {
    authenticator_.reset();
}

std::string ClientRig::generate(const std::string& name, const std::vector<std::string>& extra) {
    std::vector<std::string> args{"generate", "--name", name};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = agent_command(args);
    if (r.status != 0)
        throw std::runtime_error("generate failed: " + r.err);
    return agent_home() + "/.skgate/keys/" + name + ".pub";
}

RunResult ClientRig::agent_command(const std::vector<std::string>& args, const std::string& input) {
    std::vector<std::string> argv{binary("SKGATE_AGENT_BIN")};
    argv.insert(argv.end(), args.begin(), args.end());
    return run(argv, input, agent_env());
}

int ClientRig::wait_for_authenticator_exit(int timeout_ms) {
    return authenticator_ ? authenticator_->wait(timeout_ms) : -1;
}

std::string ClientRig::agent_log() const {
    return agent_ ? agent_->output() : "";
}

std::string ClientRig::authenticator_log() const {
    return authenticator_ ? authenticator_->output() : "";
}

}  // namespace skgate::test

// The laptop and the phone for tests: a real skgate-agent and a real
// skgate-authenticator, each with its own HOME under `dir`, paired the way a
// person pairs them (the URI passed over, the confirmation code typed in).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/helpers.h"

namespace skgate::test {

struct PairOutcome {
    int agent_status = -1;
    int authenticator_status = -1;
    std::string agent_output;
    std::string authenticator_output;
};

class ClientRig {
  public:
    explicit ClientRig(std::string dir);
    ~ClientRig();

    std::map<std::string, std::string> agent_env() const;
    std::map<std::string, std::string> authenticator_env() const;
    std::string agent_home() const { return dir_ + "/laptop"; }
    std::string agent_socket() const { return agent_home() + "/.skgate/agent.sock"; }
    std::string passphrase_file() const { return dir_ + "/passphrase"; }
    // Where each keeps its state (and its broker.conf).
    std::string agent_dir() const { return agent_home() + "/.skgate"; }
    std::string authenticator_dir() const { return phone_home() + "/.skgate-authenticator"; }

    // Which of the person's devices the authenticator calls below act on:
    // "phone" (the default, paired as "test phone") or another, paired
    // under `name` (default: its own). Each keeps its own vault and its own
    // running authenticator.
    void use_phone(const std::string& phone, const std::string& name = "");

    // Runs the laptop's programs (pair, run) and the phone's (pair, run) in
    // these network namespaces (ip netns exec); the agent's Unix sockets stay
    // reachable from everywhere, as sockets in the file system are.
    void use_network_namespaces(const std::string& laptop, const std::string& phone);
    void init_authenticator();
    void start_agent(const std::vector<std::string>& extra = {});
    void stop_agent();
    // `typed` replaces the code the person would read off the authenticator.
    PairOutcome pair(const std::string& typed = "", const std::vector<std::string>& extra = {});
    // approve: yes, no, silent or host:N.
    // `env` is added to the authenticator's environment (libfaketime's, in
    // the tests of approval windows).
    void start_authenticator(const std::string& approve, const std::vector<std::string>& extra = {},
                             const std::map<std::string, std::string>& env = {});
    // The authenticator asking a person (--approve ask) on a terminal of
    // its own (a pty made by script(1)): type() is what the person types.
    void start_authenticator_on_terminal(const std::vector<std::string>& extra = {});
    void type_on_authenticator(const std::string& text);
    bool wait_for_authenticator(const std::string& text, int timeout_ms);
    void stop_authenticator();
    // Its exit status, or -1 while it still runs after timeout_ms.
    int wait_for_authenticator_exit(int timeout_ms);
    // Generates a key; returns the .pub path (throws on failure).
    std::string generate(const std::string& name, const std::vector<std::string>& extra = {});
    RunResult agent_command(const std::vector<std::string>& args, const std::string& input = "");

    // Until `skgate-agent status` says no authenticator is connected (the
    // agent has seen the connection close): a condition, not a delay.
    void wait_until_agent_sees_no_authenticator();
    std::string agent_log() const;
    std::string authenticator_log() const;

  private:
    std::string phone_home() const { return dir_ + "/" + phone_; }
    std::string phone_name() const {
        auto it = phone_names_.find(phone_);
        return it != phone_names_.end() ? it->second : phone_ == "phone" ? "test phone" : phone_;
    }
    std::vector<std::string> in_laptop(std::vector<std::string> argv) const;
    std::vector<std::string> in_phone(std::vector<std::string> argv) const;
    std::string dir_;
    std::string laptop_ns_, phone_ns_;
    std::string phone_ = "phone";
    std::map<std::string, std::string> phone_names_;
    std::unique_ptr<Process> agent_, authenticator_;
    // The other devices' running authenticators, while another is in use.
    std::map<std::string, std::unique_ptr<Process>> other_authenticators_;
    int log_serial_ = 0;
};

}  // namespace skgate::test

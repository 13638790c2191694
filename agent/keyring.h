// Where the agent keeps its state (~/.skgate, 0700) and the keys it made on
// the authenticator: for each key NAME, keys/NAME.pub (the public key line),
// keys/NAME.key (key handle and options, 0600), keys/NAME.attestation and
// keys/NAME.challenge (for `skgatectl enroll --attestation`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/link/pairing.h"
#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate::agent {

inline constexpr size_t kMaxKeyName = 64;

struct AgentPaths {
    std::string dir;
    std::string socket() const { return dir + "/agent.sock"; }
    std::string link_socket() const { return dir + "/link.sock"; }
    std::string pair_socket() const { return dir + "/pair.sock"; }
    // The laptop's own commands to the running agent (unpair, pair). Not the
    // agent socket: ssh forwards that one to servers (ForwardAgent).
    std::string control_socket() const { return dir + "/control.sock"; }
    std::string pairing() const { return dir + "/pairing"; }
    std::string keys() const { return dir + "/keys"; }
    // How to reach and log in to the MQTT broker (pair --broker).
    std::string broker_settings() const { return dir + "/broker.conf"; }

    // $SKGATE_AGENT_DIR, else ~/.skgate.
    static AgentPaths from_environment();
    // Creates the directories (0700) if missing; refuses wrong owners/modes.
    Status ensure() const;
};

struct AgentKey {
    std::string name;
    PublicKey key;
    Bytes key_handle;
    bool verify_required = false;
};

// Key names are file names: letters, digits, '.', '_' and '-'.
Status check_key_name(const std::string& name);
// A valid name no key of this agent has yet: checked before the
// authenticator is asked, so that a refused name leaves no stray key on it.
Status check_new_key_name(const AgentPaths& paths, const std::string& name);

Result<std::vector<AgentKey>> load_keys(const AgentPaths& paths);
Status save_key(const AgentPaths& paths, const AgentKey& key, ByteView attestation,
                ByteView challenge);

Result<std::optional<PairingRecord>> load_pairing(const AgentPaths& paths);
Status save_pairing(const AgentPaths& paths, const PairingRecord& record);

}  // namespace skgate::agent

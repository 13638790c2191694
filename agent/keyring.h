// Where the agent keeps its state (~/.skgate, 0700) and the keys it made on
// its authenticators: for each key NAME, keys/NAME.pub (the public key line),
// keys/NAME.key (key handle, options and the device that holds it, 0600),
// keys/NAME.attestation and keys/NAME.challenge (for `skgatectl enroll
// --attestation`). The pairings: `pairing` (the one `pair` makes or
// replaces) and pairings/DEVICE-ID, one file per device `pair --add` added,
// so that two additions at once never lose one.
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
// A phone, a backup key and a few laptops' authenticators, with room.
inline constexpr size_t kMaxPairedDevices = 16;

struct AgentPaths {
    std::string dir;
    std::string socket() const { return dir + "/agent.sock"; }
    std::string link_socket() const { return dir + "/link.sock"; }
    std::string pair_socket() const { return dir + "/pair.sock"; }
    // The laptop's own commands to the running agent (unpair, pair). Not the
    // agent socket: ssh forwards that one to servers (ForwardAgent).
    std::string control_socket() const { return dir + "/control.sock"; }
    std::string pairing() const { return dir + "/pairing"; }
    std::string pairings() const { return dir + "/pairings"; }
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
    // The paired device that made it; empty for keys made before the agent
    // knew several devices: those are the `pairing` file's device's.
    Bytes device_id;
    // A browser passkey (generate --passkey): signed through the agent's
    // loopback page, never a paired device; its key handle is the
    // credential id.
    bool passkey = false;
};

// Key names are file names: letters, digits, '.', '_' and '-'.
Status check_key_name(const std::string& name);
// A valid name no key of this agent has yet: checked before the
// authenticator is asked, so that a refused name leaves no stray key on it.
Status check_new_key_name(const AgentPaths& paths, const std::string& name);

Result<std::vector<AgentKey>> load_keys(const AgentPaths& paths);
Status save_key(const AgentPaths& paths, const AgentKey& key, ByteView attestation,
                ByteView challenge);

// Every paired device: the `pairing` file's first, then pairings/ in the
// order of their ids.
struct PairedDevices {
    std::vector<PairingRecord> records;
    // records[0] is the `pairing` file's: keys from before several devices
    // (no device recorded) are its.
    bool first_from_pairing_file = false;

    bool empty() const { return records.empty(); }
    const PairingRecord* by_id(ByteView device_id) const;
    // The device named `name`; an error naming the paired ones if none is.
    Result<const PairingRecord*> named(const std::string& name) const;
    // The device recorded as holding `key`, nothing when it is no longer
    // paired.
    const PairingRecord* recorded_for(const AgentKey& key) const;
    // Where a request for `key` goes: its recorded device, or else the only
    // paired one.
    const PairingRecord* holding(const AgentKey& key) const;
    // "'phone', 'backup'" (for messages).
    std::string names() const;
};

// Any unreadable record is an error, never "unpaired".
Result<PairedDevices> load_pairings(const AgentPaths& paths);
// `pair`: this device is the only one (the others' records are removed).
Status replace_pairings(const AgentPaths& paths, const PairingRecord& record);
// `pair --add`: one more device, which must have a name no paired device has.
Status add_pairing(const AgentPaths& paths, const PairingRecord& record);
// `unpair`: forgets that device (whichever file holds it).
Status remove_pairing(const AgentPaths& paths, const PairingRecord& record);

}  // namespace skgate::agent

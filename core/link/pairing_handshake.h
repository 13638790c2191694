// Both sides of pairing (see pairing.h for the protocol): the agent, which
// shows the URI and waits, and the authenticator, which answers it. Each is
// split only where a person is asked (the agent compares the code) or a
// program chooses what to keep; every message and check is here.
#pragma once

#include <memory>
#include <string>

#include "core/link/channel.h"
#include "core/link/channel_crypto.h"
#include "core/link/pairing.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

// How long each side waits for the other's next pairing message, and for the
// verdict (the person reads the code on one device and types it on the
// other).
inline constexpr int kPairingStepTimeoutMs = 30'000;
inline constexpr int kPairingVerdictTimeoutMs = 300'000;

// --- the agent --------------------------------------------------------------

// A fresh X25519 key and one-time token, and the URI that carries them.
struct PairingOffer {
    PairingUri uri;
    X25519KeyPair own;
};
Result<PairingOffer> make_pairing_offer(const std::string& address);

// The responder that connected, once it proved it holds the offer's token.
struct PairingResponder {
    std::string device_name;
    Bytes device_id;
    PairingKeys keys;  // keys.code: what the person compares
    std::unique_ptr<SecureChannel> channel;
};
// Hello, acknowledgement, the shared keys and the sealed confirmation.
// Errors say what the responder did wrong; nothing is kept.
Result<PairingResponder> agent_pairing_exchange(std::shared_ptr<Transport> transport,
                                                const PairingOffer& offer, int timeout_ms);
// The verdict the authenticator waits for: on success the agent's name and
// the link address it connects to from now on; else why not.
Status send_pairing_verdict(SecureChannel& channel, bool ok, const std::string& reason,
                            const std::string& agent_name, const std::string& link_address);
// A responder's pairing hello: its X25519 key and its name.
struct PairingHello {
    Bytes key;
    std::string device_name;
};
Result<PairingHello> parse_pairing_hello(const CborFields& hello);
// --- the authenticator -------------------------------------------------------

struct PairingAnswer {
    PairingKeys keys;  // keys.code: what this side shows
    Bytes device_id;   // this device's id, chosen here
    std::unique_ptr<SecureChannel> channel;
};
// Hello with `device_name`, the agent's acknowledgement (or its refusal),
// the shared keys and the sealed confirmation.
Result<PairingAnswer> authenticator_pairing_answer(std::shared_ptr<Transport> transport,
                                                   const PairingUri& uri,
                                                   const std::string& device_name, int timeout_ms);
// The agent's verdict, after the person typed the code there: the record to
// keep, or why the agent refused ("Nothing was saved").
Result<PairingRecord> authenticator_pairing_verdict(PairingAnswer& answer, int timeout_ms);

}  // namespace skgate

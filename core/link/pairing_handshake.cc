#include "core/link/pairing_handshake.h"

namespace skgate {

namespace {

Error pairing_error(const std::string& what) {
    return make_error(ErrorCode::io, what);
}

}  // namespace

Result<PairingOffer> make_pairing_offer(const std::string& address) {
    auto own = X25519KeyPair::generate();
    auto token = random_bytes(kPairingTokenBytes);
    if (!own || !token)
        return make_error(ErrorCode::crypto, "no randomness for the pairing keys");
    PairingOffer offer{PairingUri{address, own->public_key, *token}, std::move(*own)};
    return offer;
}

Result<PairingHello> parse_pairing_hello(const CborFields& hello) {
    auto type = hello.get_uint(msg::field::kType, "message type");
    auto key = hello.get_bytes(msg::field::kKey, "public key", kX25519KeyBytes);
    auto device_name = hello.get_text(msg::field::kName, "device name", kMaxDeviceName);
    if (!type || *type != msg::type::kPairHello || !key || !device_name)
        return invalid("not a valid pairing hello");
    return PairingHello{std::move(*key), std::move(*device_name)};
}

Result<PairingResponder> agent_pairing_exchange(std::shared_ptr<Transport> transport,
                                                const PairingOffer& offer, int timeout_ms) {
    auto hello = receive_plain(*transport, timeout_ms);
    if (!hello)
        return pairing_error("the responder's hello is malformed: " + hello.error().message);
    auto parsed = parse_pairing_hello(*hello);
    if (!parsed)
        return pairing_error("the responder did not send a valid pairing hello");
    const Bytes& their_key = parsed->key;
    CborFields ack;
    ack.set(msg::field::kType, msg::type::kPairHello);
    if (Status sent = send_plain(*transport, ack); !sent)
        return pairing_error("the responder went away: " + sent.error().message);
    SKGATE_TRY(shared, x25519_shared(offer.own, their_key));
    auto keys = derive_pairing_keys(shared, offer.uri.token, offer.own.public_key, their_key);
    wipe(shared);
    if (!keys)
        return keys.error();
    auto channel = std::make_unique<SecureChannel>(transport, ChannelRole::agent, keys->channel);
    auto confirm = channel->receive(timeout_ms);
    if (!confirm)
        return pairing_error("refused the responder: it does not hold this pairing's token (" +
                             confirm.error().message + "). Nothing was saved.");
    auto confirm_type = confirm->get_uint(msg::field::kType, "message type");
    auto device_id = confirm->get_bytes(msg::field::kDeviceId, "device id", kDeviceIdBytes);
    if (!confirm_type || *confirm_type != msg::type::kPairConfirm || !device_id ||
        device_id->size() != kDeviceIdBytes)
        return pairing_error("the responder's confirmation is malformed. Nothing was saved.");
    PairingResponder r{parsed->device_name, *device_id, std::move(*keys), std::move(channel)};
    return r;
}

Status send_pairing_verdict(SecureChannel& channel, bool ok, const std::string& reason,
                            const std::string& agent_name, const std::string& link_address) {
    CborFields f;
    f.set(msg::field::kType, msg::type::kPairResult);
    f.set(msg::field::kStatus, uint64_t{ok ? 0u : 1u});
    if (!reason.empty())
        f.set(msg::field::kReason, reason);
    if (ok) {
        f.set(msg::field::kName, agent_name.substr(0, kMaxDeviceName));
        f.set(msg::field::kAddress, link_address);
    }
    return channel.send(f);
}

Result<PairingAnswer> authenticator_pairing_answer(std::shared_ptr<Transport> transport,
                                                   const PairingUri& uri,
                                                   const std::string& device_name, int timeout_ms) {
    if (device_name.size() > kMaxDeviceName)
        return invalid("the device name is longer than " + std::to_string(kMaxDeviceName) +
                       " characters");
    SKGATE_TRY(own, X25519KeyPair::generate());
    CborFields hello;
    hello.set(msg::field::kType, msg::type::kPairHello);
    hello.set(msg::field::kKey, own.public_key);
    hello.set(msg::field::kName, device_name);
    SKGATE_CHECK(send_plain(*transport, hello));
    // The agent acknowledges the hello, or says why not (for example: this
    // pairing already has a responder).
    auto ack = receive_plain(*transport, timeout_ms);
    if (!ack)
        return pairing_error("the agent did not answer: " + ack.error().message);
    if (auto type = ack->get_uint(msg::field::kType, "message type");
        !type || *type != msg::type::kPairHello) {
        auto reason = ack->get_text(msg::field::kReason, "reason", 256);
        return make_error(
            ErrorCode::permission,
            "refused by the agent: " + (reason ? *reason : std::string("no reason given")));
    }
    SKGATE_TRY(shared, x25519_shared(own, uri.agent_key));
    auto keys = derive_pairing_keys(shared, uri.token, uri.agent_key, own.public_key);
    wipe(shared);
    if (!keys)
        return keys.error();
    auto channel =
        std::make_unique<SecureChannel>(transport, ChannelRole::authenticator, keys->channel);
    SKGATE_TRY(device_id, random_bytes(kDeviceIdBytes));
    CborFields confirm;
    confirm.set(msg::field::kType, msg::type::kPairConfirm);
    confirm.set(msg::field::kDeviceId, device_id);
    SKGATE_CHECK(channel->send(confirm));
    PairingAnswer a{std::move(*keys), std::move(device_id), std::move(channel)};
    return a;
}

Result<PairingRecord> authenticator_pairing_verdict(PairingAnswer& answer, int timeout_ms) {
    auto result = answer.channel->receive(timeout_ms);
    if (!result)
        return pairing_error("pairing failed: " + result.error().message);
    auto type = result->get_uint(msg::field::kType, "message type");
    auto status = result->get_uint(msg::field::kStatus, "status");
    if (!type || *type != msg::type::kPairResult || !status)
        return pairing_error("pairing failed: the agent sent no verdict");
    if (*status != 0) {
        auto reason = result->get_text(msg::field::kReason, "reason", 256);
        return make_error(
            ErrorCode::permission,
            "pairing refused by the agent: " + (reason ? *reason : std::string("no reason given")) +
                ". Nothing was saved.");
    }
    auto address = result->get_text(msg::field::kAddress, "address", kMaxPairingUri);
    auto agent_name = result->get_text(msg::field::kName, "agent name", kMaxDeviceName);
    if (!address || !agent_name || !check_channel_address(*address))
        return pairing_error("pairing failed: the agent's answer is malformed");
    PairingRecord record;
    record.device_id = answer.device_id;
    record.device_name = *agent_name;
    record.address = *address;
    record.secret = answer.keys.secret;
    return record;
}

}  // namespace skgate

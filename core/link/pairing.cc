#include "core/link/pairing.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <ctime>

#include "core/sys/base64.h"

namespace skgate {

namespace {

constexpr std::string_view kUriPrefix = "skgate-pair:v1?";

bool unreserved(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '/' || c == ':';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

Result<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] == '%') {
            if (s.size() - i < 3)
                return invalid("pairing URI: truncated %-escape");
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                return invalid("pairing URI: bad %-escape");
            char c = static_cast<char>(hi * 16 + lo);
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return invalid("pairing URI: control character in the address");
            out += c;
            i += 2;
        } else if (unreserved(s[i])) {
            out += s[i];
        } else {
            return invalid(std::string("pairing URI: character '") + s[i] + "' must be escaped");
        }
    }
    return out;
}

std::string percent_encode(std::string_view s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        if (unreserved(c)) {
            out += c;
        } else {
            auto u = static_cast<unsigned char>(c);
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

std::string info_with(std::string_view label, ByteView a, ByteView b) {
    std::string info(label);
    info.append(as_chars(a));
    info.append(as_chars(b));
    return info;
}

Bytes slice(const Bytes& b, size_t off, size_t n) {
    return Bytes(b.begin() + static_cast<std::ptrdiff_t>(off),
                 b.begin() + static_cast<std::ptrdiff_t>(off + n));
}

uint64_t now_seconds() {
    return static_cast<uint64_t>(std::time(nullptr));
}

constexpr uint64_t kRecordVersion = 1;

}  // namespace

Result<PairingUri> PairingUri::parse(std::string_view uri) {
    if (uri.size() > kMaxPairingUri)
        return invalid("pairing URI is longer than " + std::to_string(kMaxPairingUri) + " bytes");
    if (uri.substr(0, kUriPrefix.size()) != kUriPrefix)
        return invalid("not a skgate pairing URI (expected it to start with 'skgate-pair:v1?')");
    std::string_view rest = uri.substr(kUriPrefix.size());
    PairingUri out;
    bool have_addr = false, have_pk = false, have_token = false;
    while (!rest.empty()) {
        size_t amp = rest.find('&');
        std::string_view param = rest.substr(0, amp);
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        size_t eq = param.find('=');
        if (eq == std::string_view::npos)
            return invalid("pairing URI: parameter '" + std::string(param) + "' has no value");
        std::string_view name = param.substr(0, eq), value = param.substr(eq + 1);
        auto once = [&](bool& seen) -> Status {
            if (seen)
                return invalid("pairing URI repeats '" + std::string(name) + "'");
            seen = true;
            return {};
        };
        if (name == "addr") {
            SKGATE_CHECK(once(have_addr));
            SKGATE_TRY(addr, percent_decode(value));
            SKGATE_CHECK(check_channel_address(addr));
            out.address = std::move(addr);
        } else if (name == "pk") {
            SKGATE_CHECK(once(have_pk));
            auto key = base64url_decode_unpadded(value);
            if (!key || key->size() != kX25519KeyBytes)
                return invalid("pairing URI: 'pk' is not a base64url X25519 key");
            out.agent_key = std::move(*key);
        } else if (name == "token") {
            SKGATE_CHECK(once(have_token));
            auto token = base64url_decode_unpadded(value);
            if (!token || token->size() != kPairingTokenBytes)
                return invalid("pairing URI: 'token' is not a base64url 16-byte token");
            out.token = std::move(*token);
        } else {
            return invalid("pairing URI: unknown parameter '" + std::string(name) + "'");
        }
    }
    if (!have_addr || !have_pk || !have_token)
        return invalid("pairing URI needs addr, pk and token");
    return out;
}

std::string PairingUri::format() const {
    return std::string(kUriPrefix) + "addr=" + percent_encode(address) +
           "&pk=" + base64url_encode_unpadded(agent_key) +
           "&token=" + base64url_encode_unpadded(token);
}

PairingKeys::~PairingKeys() {
    wipe(secret);
}

Result<PairingKeys> derive_pairing_keys(ByteView shared, ByteView token, ByteView agent_key,
                                        ByteView authenticator_key) {
    SKGATE_TRY(okm,
               hkdf_sha256(shared, token, info_with("skgate-pair-v1", agent_key, authenticator_key),
                           kPairingSecretBytes + 2 * kAeadKeyBytes + 4));
    PairingKeys k;
    k.secret = slice(okm, 0, kPairingSecretBytes);
    k.channel.agent_to_authenticator = slice(okm, kPairingSecretBytes, kAeadKeyBytes);
    k.channel.authenticator_to_agent =
        slice(okm, kPairingSecretBytes + kAeadKeyBytes, kAeadKeyBytes);
    size_t c = kPairingSecretBytes + 2 * kAeadKeyBytes;
    uint32_t v = (uint32_t{okm[c]} << 24) | (uint32_t{okm[c + 1]} << 16) |
                 (uint32_t{okm[c + 2]} << 8) | okm[c + 3];
    std::string code = std::to_string(v % 1000000);
    k.code = std::string(6 - code.size(), '0') + code;
    wipe(okm);
    return k;
}

Result<ChannelKeys> derive_session_keys(ByteView pairing_secret, ByteView ephemeral_shared,
                                        const SessionTranscript& t) {
    if (ephemeral_shared.size() != kX25519KeyBytes || pairing_secret.size() != kPairingSecretBytes)
        return invalid("session keys need a 32-byte pairing secret and X25519 result");
    // The ephemeral result is the key material and the pairing secret the
    // salt: without the first (gone when the session ends) the keys cannot
    // be made again, without the second nobody but the pair can make them.
    Bytes ikm(ephemeral_shared.begin(), ephemeral_shared.end());
    std::string info = "skgate-session-v2";
    for (ByteView part :
         {ByteView(t.device_id), ByteView(t.authenticator_ephemeral), ByteView(t.agent_ephemeral)})
        info.append(reinterpret_cast<const char*>(part.data()), part.size());
    auto okm = hkdf_sha256(ikm, pairing_secret, info, 2 * kAeadKeyBytes);
    wipe(ikm);
    if (!okm)
        return okm.error();
    ChannelKeys k;
    k.agent_to_authenticator = slice(*okm, 0, kAeadKeyBytes);
    k.authenticator_to_agent = slice(*okm, kAeadKeyBytes, kAeadKeyBytes);
    wipe(*okm);
    return k;
}

bool confirmation_code_matches(std::string_view typed, std::string_view code) {
    if (typed.size() != code.size() || code.empty())
        return false;
    return CRYPTO_memcmp(typed.data(), code.data(), code.size()) == 0;
}

PairingRecord::~PairingRecord() {
    wipe(secret);
}

Result<PairingRecord> PairingRecord::parse(ByteView data) {
    SKGATE_TRY(f, CborFields::parse(data));
    SKGATE_TRY(version, f.get_uint(0, "version"));
    if (version != kRecordVersion)
        return invalid("pairing record version " + std::to_string(version) + " is unknown");
    PairingRecord r;
    SKGATE_TRY(id, f.get_bytes(msg::field::kDeviceId, "device id", kDeviceIdBytes));
    SKGATE_TRY(name, f.get_text(msg::field::kName, "device name", kMaxDeviceName));
    SKGATE_TRY(secret, f.get_bytes(msg::field::kKey, "pairing secret", kPairingSecretBytes));
    if (id.size() != kDeviceIdBytes || secret.size() != kPairingSecretBytes)
        return invalid("pairing record: device id or secret has the wrong size");
    if (f.has(msg::field::kAddress)) {
        SKGATE_TRY(addr, f.get_text(msg::field::kAddress, "address", kMaxPairingUri));
        SKGATE_CHECK(check_channel_address(addr));
        r.address = std::move(addr);
    }
    r.device_id = std::move(id);
    r.device_name = std::move(name);
    r.secret = std::move(secret);
    return r;
}

Bytes PairingRecord::serialize() const {
    CborFields f;
    f.set(0, kRecordVersion);
    f.set(msg::field::kDeviceId, device_id);
    f.set(msg::field::kName, device_name);
    f.set(msg::field::kKey, secret);
    if (!address.empty())
        f.set(msg::field::kAddress, address);
    return f.encode();
}

namespace {

// The first sealed message each side sends: only a holder of the pairing
// secret can make it, so receiving it proves the peer.
Status send_ready(SecureChannel& channel) {
    CborFields ready;
    ready.set(msg::field::kType, msg::type::kSessionReady);
    ready.set(msg::field::kTime, now_seconds());
    return channel.send(ready);
}

Status receive_ready(SecureChannel& channel, int timeout_ms, const std::string& peer) {
    auto ready = channel.receive(timeout_ms);
    if (!ready)
        return make_error(ErrorCode::permission,
                          "the " + peer + " failed to prove the pairing: " + ready.error().message);
    SKGATE_TRY(type, ready->get_uint(msg::field::kType, "message type"));
    if (type != msg::type::kSessionReady)
        return invalid("the " + peer + "'s first sealed message is not 'ready'");
    return {};
}

}  // namespace

namespace {

// The peer's ephemeral X25519 key from its session hello. A hello without
// one is the first session protocol, whose keys came from the pairing
// secret alone (no forward secrecy): refused, with what to do.
Result<Bytes> session_ephemeral(const CborFields& hello, const std::string& peer) {
    if (!hello.has(msg::field::kKey))
        return make_error(ErrorCode::permission,
                          "the " + peer +
                              " speaks the old session protocol (no ephemeral key, so no "
                              "forward secrecy); update it");
    SKGATE_TRY(key, hello.get_bytes(msg::field::kKey, "ephemeral key", kX25519KeyBytes));
    if (key.size() != kX25519KeyBytes)
        return invalid("session hello: the ephemeral key must be 32 bytes");
    return key;
}

constexpr size_t kHelloProofBytes = 32;

// The authenticator's hello proves it holds the pairing secret, for this
// connection and this ephemeral key: HKDF-SHA256 of the secret (OpenSSL
// wants a salt: a fixed one), its info the device id, the key and the
// transport's binding, each length-prefixed
// (HKDF's expand step is HMAC of the info, so this is a MAC). The agent can
// then refuse a recorded hello replayed on a new connection at once,
// before it answers or counts it as the device connecting, instead of
// holding a handshake place until the proof times out.
Result<Bytes> hello_proof(ByteView secret, ByteView device_id, ByteView ephemeral,
                          std::string_view binding) {
    std::string info = "skgate-hello-v1";
    for (ByteView part : {device_id, ephemeral, as_bytes(binding)}) {
        // Two length bytes: a longer part would make two infos alike.
        if (part.size() > 0xffff)
            return invalid("hello proof: a part of " + std::to_string(part.size()) +
                           " bytes is longer than 65535");
        info.push_back(static_cast<char>(part.size() >> 8));
        info.push_back(static_cast<char>(part.size() & 0xff));
        info.append(as_chars(part));
    }
    return hkdf_sha256(secret, as_bytes("skgate-hello"), info, kHelloProofBytes);
}

Status check_hello_proof(const CborFields& hello, const PairingRecord& record, ByteView ephemeral,
                         std::string_view binding) {
    if (!hello.has(msg::field::kProof))
        return make_error(ErrorCode::permission,
                          "the device's session hello carries no proof of the pairing (an older "
                          "authenticator); update it");
    SKGATE_TRY(proof, hello.get_bytes(msg::field::kProof, "hello proof", kHelloProofBytes));
    SKGATE_TRY(expected, hello_proof(record.secret, record.device_id, ephemeral, binding));
    if (proof.size() != expected.size() ||
        CRYPTO_memcmp(proof.data(), expected.data(), expected.size()) != 0)
        return make_error(ErrorCode::permission,
                          "a session hello that does not prove the pairing (recorded elsewhere, or "
                          "made without the pairing secret)");
    return {};
}

}  // namespace

Result<AcceptedSession> session_accept_any(std::shared_ptr<Transport> transport,
                                           std::span<const PairingRecord> records, int timeout_ms,
                                           const std::function<void(size_t)>& on_hello) {
    SKGATE_TRY(hello, receive_plain(*transport, timeout_ms));
    SKGATE_TRY(type, hello.get_uint(msg::field::kType, "message type"));
    if (type != msg::type::kSessionHello)
        return invalid("the device did not start with a session hello");
    SKGATE_TRY(id, hello.get_bytes(msg::field::kDeviceId, "device id", kDeviceIdBytes));
    auto paired = std::find_if(records.begin(), records.end(), [&](const PairingRecord& r) {
        return equal_bytes(id, r.device_id);
    });
    if (paired == records.end())
        return make_error(ErrorCode::permission,
                          "a device that is not the paired one tried to connect");
    const PairingRecord& record = *paired;
    const auto index = static_cast<size_t>(paired - records.begin());
    SKGATE_TRY(their_key, session_ephemeral(hello, "device"));
    SKGATE_CHECK(check_hello_proof(hello, record, their_key, transport->binding()));
    if (on_hello)
        on_hello(index);
    SKGATE_TRY(own, X25519KeyPair::generate());
    CborFields reply;
    reply.set(msg::field::kType, msg::type::kSessionHello);
    reply.set(msg::field::kKey, own.public_key);
    SKGATE_CHECK(send_plain(*transport, reply));
    SKGATE_TRY(shared, x25519_shared(own, their_key));
    SessionTranscript t{.device_id = record.device_id,
                        .authenticator_ephemeral = their_key,
                        .agent_ephemeral = own.public_key};
    auto keys = derive_session_keys(record.secret, shared, t);
    wipe(shared);
    if (!keys)
        return keys.error();
    auto channel = std::make_unique<SecureChannel>(transport, ChannelRole::agent, *keys);
    SKGATE_CHECK(receive_ready(*channel, timeout_ms, "device"));
    SKGATE_CHECK(send_ready(*channel));
    return AcceptedSession{std::move(channel), index};
}

Result<std::unique_ptr<SecureChannel>> session_accept(std::shared_ptr<Transport> transport,
                                                      const PairingRecord& record, int timeout_ms,
                                                      const std::function<void()>& on_hello) {
    std::function<void(size_t)> told;
    if (on_hello)
        told = [&](size_t) { on_hello(); };
    SKGATE_TRY(accepted,
               session_accept_any(std::move(transport), std::span(&record, 1), timeout_ms, told));
    return std::move(accepted.channel);
}

Result<std::unique_ptr<SecureChannel>> session_connect(std::shared_ptr<Transport> transport,
                                                       const PairingRecord& record,
                                                       int timeout_ms) {
    SKGATE_TRY(own, X25519KeyPair::generate());
    CborFields hello;
    hello.set(msg::field::kType, msg::type::kSessionHello);
    hello.set(msg::field::kDeviceId, record.device_id);
    hello.set(msg::field::kKey, own.public_key);
    SKGATE_TRY(proof,
               hello_proof(record.secret, record.device_id, own.public_key, transport->binding()));
    hello.set(msg::field::kProof, proof);
    SKGATE_CHECK(send_plain(*transport, hello));
    SKGATE_TRY(reply, receive_plain(*transport, timeout_ms));
    SKGATE_TRY(type, reply.get_uint(msg::field::kType, "message type"));
    if (type == msg::type::kRefused)
        return make_error(ErrorCode::permission, "the agent refused the session");
    if (type != msg::type::kSessionHello)
        return invalid("the agent did not answer with a session hello");
    SKGATE_TRY(their_key, session_ephemeral(reply, "agent"));
    SKGATE_TRY(shared, x25519_shared(own, their_key));
    SessionTranscript t{.device_id = record.device_id,
                        .authenticator_ephemeral = own.public_key,
                        .agent_ephemeral = their_key};
    auto keys = derive_session_keys(record.secret, shared, t);
    wipe(shared);
    if (!keys)
        return keys.error();
    auto channel = std::make_unique<SecureChannel>(transport, ChannelRole::authenticator, *keys);
    SKGATE_CHECK(send_ready(*channel));
    SKGATE_CHECK(receive_ready(*channel, timeout_ms, "agent"));
    return channel;
}

}  // namespace skgate

// The agent-authenticator channel: CBOR messages, pairing, sealing, replay
// and tampering, the session handshake, and the request types.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <algorithm>

#include <cstring>

#include <memory>
#include <thread>
#include <vector>

#include "core/decide/stepup.h"
#include "core/fido/cbor_fields.h"
#include "core/link/channel.h"
#include "core/link/channel_crypto.h"
#include "core/link/link_messages.h"
#include "core/link/message_ids.h"
#include "core/link/pairing.h"
#include "core/ssh/agent_protocol.h"
#include "core/ssh/sign_purpose.h"
#include "core/ssh/wire.h"
#include "core/sys/base64.h"
#include "core/sys/digest.h"
#include "tests/support/helpers.h"
#include "tests/support/recording_transport.h"
#include "tests/support/softkey.h"

using namespace skgate;

namespace {

// Two ends of a real socket pair, as the agent and authenticator see them.
struct Pipe {
    std::shared_ptr<Transport> agent, authenticator;
    Pipe() {
        int fds[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
            throw std::runtime_error("socketpair");
        agent = std::make_shared<SocketTransport>(fds[0]);
        authenticator = std::make_shared<SocketTransport>(fds[1]);
    }
};

// A paired phone's record, as both sides keep it.
PairingRecord test_record() {
    PairingRecord rec;
    rec.device_id = Bytes(16, 1);
    rec.device_name = "phone";
    rec.secret = Bytes(32, 2);
    return rec;
}

ChannelKeys test_keys(uint8_t seed) {
    ChannelKeys k;
    k.agent_to_authenticator.assign(32, seed);
    k.authenticator_to_agent.assign(32, static_cast<uint8_t>(seed + 1));
    return k;
}

CborFields message(uint64_t id) {
    CborFields f;
    f.set(msg::field::kType, uint64_t{99});
    f.set(msg::field::kId, id);
    return f;
}

Bytes hex(std::string_view h) {
    Bytes out;
    for (size_t i = 0; i + 1 < h.size(); i += 2)
        out.push_back(static_cast<uint8_t>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
    return out;
}

}  // namespace

TEST(CborFields, RoundTripsEveryValueType) {
    CborFields f;
    f.set(1, uint64_t{42});
    f.set(2, Bytes{1, 2, 3});
    f.set(3, std::string("text"));
    auto back = CborFields::parse(f.encode());
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(*back->get_uint(1, "a"), 42u);
    EXPECT_EQ(*back->get_bytes(2, "b", 16), (Bytes{1, 2, 3}));
    EXPECT_EQ(*back->get_text(3, "c", 16), "text");
    EXPECT_FALSE(back->get_uint(2, "b"));      // wrong type
    EXPECT_FALSE(back->get_text(9, "x", 16));  // missing
    EXPECT_FALSE(back->get_bytes(2, "b", 2));  // over the limit
}

TEST(CborFields, RefusesEverythingButOneFlatMap) {
    struct Case {
        const char* why;
        const char* hex;
    };
    const Case cases[] = {
        {"not a map", "01"},
        {"trailing byte", "a1010100"},
        {"duplicate key", "a201010102"},
        {"negative key", "a12001"},
        {"text key", "a1616101"},
        {"key out of range",
         "a1190100"
         "01"},
        {"nested map", "a101a0"},
        {"array value", "a10180"},
        {"float value", "a101f93c00"},
        {"indefinite map", "bf0101ff"},
        {"truncated", "a20101"},
        {"empty", ""},
        {"control character in text", "a1016101"},
    };
    for (const auto& c : cases) {
        Bytes in = hex(c.hex);
        auto f = CborFields::parse(in);
        if (std::string(c.why) == "control character in text") {
            ASSERT_TRUE(f);
            EXPECT_FALSE(f->get_text(1, "t", 8)) << c.why;
            continue;
        }
        EXPECT_FALSE(f) << c.why;
    }
}

TEST(ChannelCrypto, X25519AgreesAndRefusesLowOrderKeys) {
    auto a = X25519KeyPair::generate(), b = X25519KeyPair::generate();
    ASSERT_TRUE(a && b);
    auto ab = x25519_shared(*a, b->public_key), ba = x25519_shared(*b, a->public_key);
    ASSERT_TRUE(ab && ba);
    EXPECT_EQ(*ab, *ba);
    EXPECT_FALSE(x25519_shared(*a, Bytes(32, 0)));  // the identity: low order
    EXPECT_FALSE(x25519_shared(*a, Bytes(31, 9)));  // wrong size
}

TEST(ChannelCrypto, AeadDetectsEveryChange) {
    Bytes key(32, 7), nonce(12, 1), aad{1, 2}, plain{'h', 'i'};
    auto sealed = aead_seal(key, nonce, aad, plain);
    ASSERT_TRUE(sealed);
    EXPECT_EQ(*aead_open(key, nonce, aad, *sealed), plain);
    for (size_t i = 0; i < sealed->size(); i++) {
        Bytes bad = *sealed;
        bad[i] ^= 0x40;
        auto r = aead_open(key, nonce, aad, bad);
        ASSERT_FALSE(r) << "byte " << i;
        EXPECT_EQ(r.error().code, ErrorCode::permission);
    }
    EXPECT_FALSE(aead_open(key, nonce, Bytes{1, 3}, *sealed));
    EXPECT_FALSE(aead_open(key, Bytes(12, 2), aad, *sealed));
}

TEST(ChannelCrypto, HkdfMatchesRfc5869TestCase1) {
    auto okm = hkdf_sha256(Bytes(22, 0x0b), hex("000102030405060708090a0b0c"),
                           as_chars(hex("f0f1f2f3f4f5f6f7f8f9")), 42);
    ASSERT_TRUE(okm);
    EXPECT_EQ(*okm,
              hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b8"
                  "87185865"));
}

TEST(PairingUri, RoundTrips) {
    PairingUri u{"unix:/home/alice/.skgate/pair.sock", Bytes(32, 5), Bytes(16, 6)};
    auto back = PairingUri::parse(u.format());
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->address, u.address);
    EXPECT_EQ(back->agent_key, u.agent_key);
    EXPECT_EQ(back->token, u.token);
    PairingUri spaced{"unix:/tmp/a b&c/p.sock", Bytes(32, 1), Bytes(16, 2)};
    auto back2 = PairingUri::parse(spaced.format());
    ASSERT_TRUE(back2) << spaced.format();
    EXPECT_EQ(back2->address, spaced.address);
}

TEST(PairingUri, RefusesMalformedUris) {
    std::string pk = base64url_encode_unpadded(Bytes(32, 5));
    std::string tok = base64url_encode_unpadded(Bytes(16, 6));
    std::string addr = "unix:/x/pair.sock";
    const std::string bad[] = {
        "skgate-pair:v2?addr=" + addr + "&pk=" + pk + "&token=" + tok,
        "http://x?addr=" + addr,
        "skgate-pair:v1?pk=" + pk + "&token=" + tok,
        "skgate-pair:v1?addr=" + addr + "&pk=" + pk,
        "skgate-pair:v1?addr=" + addr + "&addr=" + addr + "&pk=" + pk + "&token=" + tok,
        "skgate-pair:v1?addr=" + addr + "&pk=" + pk + "x&token=" + tok,
        "skgate-pair:v1?addr=" + addr + "&pk=" + base64url_encode_unpadded(Bytes(31, 5)) +
            "&token=" + tok,
        "skgate-pair:v1?addr=" + addr + "&pk=" + pk + "&token=" + tok + "&extra=1",
        "skgate-pair:v1?addr=unix:relative&pk=" + pk + "&token=" + tok,
        "skgate-pair:v1?addr=tcp:1.2.3.4:0&pk=" + pk + "&token=" + tok,
        "skgate-pair:v1?addr=udp:1.2.3.4:5&pk=" + pk + "&token=" + tok,
        "skgate-pair:v1?addr=unix:/x%0a&pk=" + pk + "&token=" + tok,
        "skgate-pair:v1?addr=unix:/x%4&pk=" + pk + "&token=" + tok,
        "skgate-pair:v1?addr=unix:/x y&pk=" + pk + "&token=" + tok,
        "skgate-pair:v1?addr",
        "skgate-pair:v1?" + std::string(2000, 'a'),
    };
    for (const auto& u : bad)
        EXPECT_FALSE(PairingUri::parse(u)) << u;
}

TEST(Pairing, BothSidesDeriveTheSameKeysAndCode) {
    auto a = X25519KeyPair::generate(), b = X25519KeyPair::generate();
    Bytes token(16, 3);
    auto ka =
        derive_pairing_keys(*x25519_shared(*a, b->public_key), token, a->public_key, b->public_key);
    auto kb =
        derive_pairing_keys(*x25519_shared(*b, a->public_key), token, a->public_key, b->public_key);
    ASSERT_TRUE(ka && kb);
    EXPECT_EQ(ka->secret, kb->secret);
    EXPECT_EQ(ka->code, kb->code);
    EXPECT_EQ(ka->code.size(), 6u);
    EXPECT_TRUE(confirmation_code_matches(ka->code, kb->code));
    EXPECT_FALSE(confirmation_code_matches("000000", ka->code == "000000" ? "000001" : ka->code));
    EXPECT_FALSE(confirmation_code_matches("", ""));
    // Without the token from the QR code, a responder derives other keys.
    auto other = derive_pairing_keys(*x25519_shared(*b, a->public_key), Bytes(16, 4), a->public_key,
                                     b->public_key);
    ASSERT_TRUE(other);
    EXPECT_NE(other->secret, ka->secret);
}

TEST(SecureChannel, CarriesMessagesBothWays) {
    Pipe p;
    auto keys = test_keys(1);
    SecureChannel agent(p.agent, ChannelRole::agent, keys);
    SecureChannel auth(p.authenticator, ChannelRole::authenticator, keys);
    for (uint64_t i = 0; i < 3; i++) {
        ASSERT_TRUE(agent.send(message(i)));
        auto got = auth.receive(1000);
        ASSERT_TRUE(got) << got.error().message;
        EXPECT_EQ(*got->get_uint(msg::field::kId, "id"), i);
        ASSERT_TRUE(auth.send(message(100 + i)));
        auto back = agent.receive(1000);
        ASSERT_TRUE(back) << back.error().message;
        EXPECT_EQ(*back->get_uint(msg::field::kId, "id"), 100 + i);
    }
}

TEST(SecureChannel, RefusesReplayedReorderedTamperedAndReflectedFrames) {
    Pipe p;
    auto keys = test_keys(1);
    SecureChannel agent(p.agent, ChannelRole::agent, keys);
    ASSERT_TRUE(agent.send(message(1)));
    ASSERT_TRUE(agent.send(message(2)));
    auto f1 = p.authenticator->receive(1000), f2 = p.authenticator->receive(1000);
    ASSERT_TRUE(f1 && f2);

    {  // replay: the same frame twice
        SecureChannel auth(p.authenticator, ChannelRole::authenticator, keys);
        ASSERT_TRUE(auth.open(*f1));
        auto replay = auth.open(*f1);
        ASSERT_FALSE(replay);
        EXPECT_NE(replay.error().message.find("replayed"), std::string::npos);
        EXPECT_TRUE(auth.open(*f2));
    }
    {  // reordered: the second frame first
        SecureChannel auth(p.authenticator, ChannelRole::authenticator, keys);
        EXPECT_FALSE(auth.open(*f2));
    }
    {  // tampered ciphertext, tag, or sequence number
        for (size_t at : {size_t{3}, size_t{10}, f1->size() - 1}) {
            SecureChannel auth(p.authenticator, ChannelRole::authenticator, keys);
            Bytes bad = *f1;
            bad[at] ^= 1;
            EXPECT_FALSE(auth.open(bad)) << "byte " << at;
        }
    }
    {  // another session's keys
        SecureChannel auth(p.authenticator, ChannelRole::authenticator, test_keys(9));
        auto r = auth.open(*f1);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, ErrorCode::permission);
    }
    {  // the agent's own frame sent back to it
        SecureChannel agent2(p.agent, ChannelRole::agent, keys);
        EXPECT_FALSE(agent2.open(*f1));
    }
    {  // too short to hold a tag
        SecureChannel auth(p.authenticator, ChannelRole::authenticator, keys);
        EXPECT_FALSE(auth.open(Bytes(10, 0)));
    }
}

TEST(SocketTransport, RefusesOversizedFramesAndTimesOut) {
    Pipe p;
    EXPECT_FALSE(p.agent->send(Bytes(kMaxFrameBytes + 1, 0)));
    auto t = p.authenticator->receive(50);
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().code, ErrorCode::not_found);
    // A length prefix beyond the limit is refused before anything is read.
    SocketTransport* raw = static_cast<SocketTransport*>(p.agent.get());
    (void)raw;
    uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ASSERT_EQ(write(fds[0], huge, 4), 4);
    SocketTransport reader(fds[1]);
    EXPECT_FALSE(reader.receive(1000));
    close(fds[0]);
}

TEST(Session, HandshakeNeedsThePairingSecretAndDevice) {
    PairingRecord rec = test_record();
    {
        Pipe p;
        std::unique_ptr<SecureChannel> agent_side;
        std::thread t([&] {
            auto r = session_accept(p.agent, rec, 2000);
            if (r)
                agent_side = std::move(*r);
        });
        auto auth_side = session_connect(p.authenticator, rec, 2000);
        t.join();
        ASSERT_TRUE(auth_side) << auth_side.error().message;
        ASSERT_TRUE(agent_side);
        ASSERT_TRUE((*auth_side)->send(message(5)));
        auto got = agent_side->receive(1000);
        ASSERT_TRUE(got);
        EXPECT_EQ(*got->get_uint(msg::field::kId, "id"), 5u);
    }
    {  // an authenticator with another secret
        Pipe p;
        PairingRecord wrong = rec;
        wrong.secret = Bytes(32, 3);
        Result<std::unique_ptr<SecureChannel>> agent_result = invalid("not run");
        std::thread t([&] { agent_result = session_accept(p.agent, rec, 2000); });
        auto auth_side = session_connect(p.authenticator, wrong, 2000);
        t.join();
        EXPECT_FALSE(agent_result);
        EXPECT_FALSE(auth_side);
    }
    {  // another device id
        Pipe p;
        PairingRecord other = rec;
        other.device_id = Bytes(16, 9);
        Result<std::unique_ptr<SecureChannel>> agent_result = invalid("not run");
        std::thread t([&] {
            agent_result = session_accept(p.agent, rec, 2000);
            p.agent->shutdown();
        });
        auto auth_side = session_connect(p.authenticator, other, 2000);
        t.join();
        ASSERT_FALSE(agent_result);
        EXPECT_NE(agent_result.error().message.find("not the paired one"), std::string::npos);
        EXPECT_FALSE(auth_side);
    }
}

TEST(Session, AStolenPairingSecretOpensNoRecordedSession) {
    PairingRecord rec = test_record();
    Pipe p;
    auto agent_tap = std::make_shared<test::RecordingTransport>(p.agent);
    auto auth_tap = std::make_shared<test::RecordingTransport>(p.authenticator);
    std::unique_ptr<SecureChannel> agent_side;
    std::thread t([&] {
        auto r = session_accept(agent_tap, rec, 2000);
        if (r)
            agent_side = std::move(*r);
    });
    auto auth_side = session_connect(auth_tap, rec, 2000);
    t.join();
    ASSERT_TRUE(auth_side) << auth_side.error().message;
    ASSERT_TRUE(agent_side);
    ASSERT_TRUE((*auth_side)->send(message(7)));
    ASSERT_TRUE(agent_side->receive(1000));
    // Recorded: the authenticator's hello, its 'ready' and the message; the
    // agent's hello. Each hello carries a fresh 32-byte ephemeral key.
    ASSERT_EQ(auth_tap->sent.size(), 3u);
    ASSERT_GE(agent_tap->sent.size(), 1u);
    auto hello_a = CborFields::parse(auth_tap->sent[0]);
    auto hello_b = CborFields::parse(agent_tap->sent[0]);
    ASSERT_TRUE(hello_a && hello_b);
    auto eph_a = hello_a->get_bytes(msg::field::kKey, "key", 32);
    auto eph_b = hello_b->get_bytes(msg::field::kKey, "key", 32);
    ASSERT_TRUE(eph_a && eph_b);
    ASSERT_EQ(eph_a->size(), 32u);
    EXPECT_NE(*eph_a, *eph_b);
    // Whoever later steals the pairing secret has everything but the
    // ephemeral private keys: no key made from what was recorded opens the
    // recorded 'ready'.
    SessionTranscript tr{
        .device_id = rec.device_id, .authenticator_ephemeral = *eph_a, .agent_ephemeral = *eph_b};
    std::vector<Bytes> guesses = {Bytes(32, 0), *eph_a, *eph_b, rec.secret};
    for (const Bytes& guess : guesses) {
        auto keys = derive_session_keys(rec.secret, guess, tr);
        ASSERT_TRUE(keys);
        SecureChannel attacker(std::make_shared<test::RecordingTransport>(p.agent),
                               ChannelRole::agent, *keys);
        EXPECT_FALSE(attacker.open(auth_tap->sent[1]));
    }
    // Nor do keys made the first protocol's way, from the secret alone.
    Bytes salt = *eph_a;
    salt.insert(salt.end(), eph_b->begin(), eph_b->end());
    auto okm = hkdf_sha256(rec.secret, salt, "skgate-session-v1", 64);
    ASSERT_TRUE(okm);
    ChannelKeys v1;
    v1.agent_to_authenticator = Bytes(okm->begin(), okm->begin() + 32);
    v1.authenticator_to_agent = Bytes(okm->begin() + 32, okm->end());
    SecureChannel attacker(std::make_shared<test::RecordingTransport>(p.agent), ChannelRole::agent,
                           v1);
    EXPECT_FALSE(attacker.open(auth_tap->sent[1]));
}

TEST(Session, AHelloWithoutAnEphemeralKeyIsRefused) {
    PairingRecord rec = test_record();
    Pipe p;
    Result<std::unique_ptr<SecureChannel>> agent_result = invalid("not run");
    std::thread t([&] {
        agent_result = session_accept(p.agent, rec, 2000);
        p.agent->shutdown();
    });
    // The first session protocol's hello: a nonce, no ephemeral key.
    CborFields hello;
    hello.set(msg::field::kType, msg::type::kSessionHello);
    hello.set(msg::field::kDeviceId, rec.device_id);
    hello.set(msg::field::kNonce, Bytes(32, 5));
    ASSERT_TRUE(send_plain(*p.authenticator, hello));
    t.join();
    ASSERT_FALSE(agent_result);
    EXPECT_NE(agent_result.error().message.find("no forward secrecy"), std::string::npos)
        << agent_result.error().message;
    // A low-order ephemeral key (an X25519 result anyone knows) is refused too.
    Pipe q;
    std::thread u([&] {
        agent_result = session_accept(q.agent, rec, 2000);
        q.agent->shutdown();
    });
    hello.set(msg::field::kKey, Bytes(32, 0));
    ASSERT_TRUE(send_plain(*q.authenticator, hello));
    u.join();
    EXPECT_FALSE(agent_result);
}

// The authenticator's hello proves the pairing for its connection: replayed
// on another connection (what a stranger on a broker can do), made without
// the secret, or without a proof at all, it is refused before the agent
// answers or calls on_hello, so it never holds a handshake place.
TEST(Session, AHelloProvesThePairingForItsOwnConnectionOnly) {
    PairingRecord rec = test_record();
    Bytes recorded;
    {
        Pipe p;
        auto agent = std::make_shared<test::RecordingTransport>(p.agent, "conn-a epoch-1");
        auto auth = std::make_shared<test::RecordingTransport>(p.authenticator, "conn-a epoch-1");
        Result<std::unique_ptr<SecureChannel>> agent_side = invalid("not run");
        std::thread t([&] { agent_side = session_accept(agent, rec, 2000); });
        auto auth_side = session_connect(auth, rec, 2000);
        t.join();
        ASSERT_TRUE(auth_side) << auth_side.error().message;
        ASSERT_TRUE(agent_side) << agent_side.error().message;
        recorded = auth->sent.at(0);
    }
    auto hello = CborFields::parse(recorded);
    ASSERT_TRUE(hello);
    auto refused = [&](const std::string& binding, const Bytes& frame) {
        Pipe p;
        auto agent = std::make_shared<test::RecordingTransport>(p.agent, binding);
        bool told = false;
        Result<std::unique_ptr<SecureChannel>> r = invalid("not run");
        std::thread t([&] {
            r = session_accept(agent, rec, 2000, [&] { told = true; });
            p.agent->shutdown();
        });
        EXPECT_TRUE(p.authenticator->send(frame));
        t.join();
        EXPECT_FALSE(told) << "on_hello was called";
        EXPECT_TRUE(agent->sent.empty()) << "the agent answered";
        EXPECT_FALSE(r);
        return r ? std::string("accepted") : r.error().message;
    };
    for (const std::string& other :
         {std::string("conn-b epoch-1"), std::string("conn-a epoch-2"), std::string("")}) {
        SCOPED_TRACE(other);
        EXPECT_NE(refused(other, recorded).find("does not prove the pairing"), std::string::npos);
    }
    PairingRecord thief = rec;
    thief.secret = Bytes(32, 3);
    {
        Pipe p;
        auto auth = std::make_shared<test::RecordingTransport>(p.authenticator, "conn-c epoch-1");
        std::thread t([&] { (void)session_connect(auth, thief, 500); });
        auto forged = p.agent->receive(2000);
        p.agent->shutdown();
        t.join();
        ASSERT_TRUE(forged);
        EXPECT_NE(refused("conn-c epoch-1", *forged).find("does not prove the pairing"),
                  std::string::npos);
    }
    CborFields bare = *hello;
    CborFields without;
    without.set(msg::field::kType, msg::type::kSessionHello);
    without.set(msg::field::kDeviceId, rec.device_id);
    auto key = bare.get_bytes(msg::field::kKey, "key", 32);
    ASSERT_TRUE(key);
    without.set(msg::field::kKey, *key);
    EXPECT_NE(refused("conn-a epoch-1", without.encode()).find("update it"), std::string::npos);
    CborFields shortened = without;
    shortened.set(msg::field::kProof, Bytes(31, 0));
    EXPECT_NE(refused("conn-a epoch-1", shortened.encode()).find("does not prove"),
              std::string::npos);
}

// The proof's parts are length-prefixed in two bytes; a binding longer than
// that would make two different connections' proofs alike, so it is an
// error, not a proof.
TEST(Session, ABindingTooLongToLengthPrefixIsRefused) {
    PairingRecord rec = test_record();
    Pipe p;
    auto auth =
        std::make_shared<test::RecordingTransport>(p.authenticator, std::string(0x10000, 'c'));
    auto r = session_connect(auth, rec, 2000);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("longer than 65535"), std::string::npos) << r.error().message;
    EXPECT_TRUE(auth->sent.empty()) << "a hello was sent";
}

TEST(PairingRecord, RoundTripsAndRefusesDamage) {
    PairingRecord rec;
    rec.device_id = Bytes(16, 1);
    rec.device_name = "phone";
    rec.address = "unix:/run/x.sock";
    rec.secret = Bytes(32, 2);
    auto back = PairingRecord::parse(rec.serialize());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->secret, rec.secret);
    EXPECT_EQ(back->address, rec.address);
    Bytes enc = rec.serialize();
    for (size_t cut = 0; cut < enc.size(); cut++)
        EXPECT_FALSE(PairingRecord::parse(ByteView(enc).first(cut))) << cut;
    rec.secret = Bytes(31, 2);
    EXPECT_FALSE(PairingRecord::parse(rec.serialize()));
}

TEST(LinkMessages, RoundTripAndStrictParsing) {
    RegisterRequest reg;
    reg.id = 7;
    reg.application = "ssh:";
    reg.client_data_hash = Bytes(32, 1);
    reg.options = kLinkRequireUV;
    reg.name = "laptop";
    auto reg_back = RegisterRequest::from_fields(reg.to_fields());
    ASSERT_TRUE(reg_back);
    EXPECT_EQ(reg_back->options, kLinkRequireUV);

    SignRequest sign;
    sign.id = 8;
    sign.application = "ssh:";
    sign.key_handle = Bytes(16, 2);
    sign.data = Bytes{1, 2, 3};
    sign.context = "skgate step-up v1\ncommand=/bin/true\n";
    auto sign_back = parse_link_message(sign.to_fields());
    ASSERT_TRUE(sign_back);
    EXPECT_EQ(std::get<SignRequest>(*sign_back).context, sign.context);

    SignResponse resp;
    resp.id = 8;
    resp.flags = 5;
    resp.counter = 9;
    resp.signature = Bytes(64, 1);
    auto resp_back = SignResponse::from_fields(resp.to_fields());
    ASSERT_TRUE(resp_back);
    EXPECT_EQ(resp_back->counter, 9u);
    SignResponse denied;
    denied.status = LinkStatus::denied;
    EXPECT_TRUE(SignResponse::from_fields(denied.to_fields()));

    auto bad_app = reg;
    bad_app.application = "https://example.com";
    EXPECT_FALSE(RegisterRequest::from_fields(bad_app.to_fields()));
    auto bad_hash = reg;
    bad_hash.client_data_hash = Bytes(31, 1);
    EXPECT_FALSE(RegisterRequest::from_fields(bad_hash.to_fields()));
    auto bad_options = reg;
    bad_options.options = 0x80;
    EXPECT_FALSE(RegisterRequest::from_fields(bad_options.to_fields()));
    auto no_handle = sign;
    no_handle.key_handle.clear();
    EXPECT_FALSE(SignRequest::from_fields(no_handle.to_fields()));
    auto big = sign;
    big.data = Bytes(kMaxLinkSignData + 1, 0);
    EXPECT_FALSE(SignRequest::from_fields(big.to_fields()));
    CborFields weird_status = resp.to_fields();
    weird_status.set(msg::field::kStatus, uint64_t{77});
    EXPECT_FALSE(SignResponse::from_fields(weird_status));
    CborFields big_flags = resp.to_fields();
    big_flags.set(40, uint64_t{256});
    EXPECT_FALSE(SignResponse::from_fields(big_flags));
    EXPECT_FALSE(RegisterRequest::from_fields(sign.to_fields()));  // wrong type
    CborFields unknown;
    unknown.set(msg::field::kType, uint64_t{1234});
    EXPECT_FALSE(parse_link_message(unknown));
}

TEST(SignPurpose, NamesLoginsAndStepUps) {
    auto key = test::SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    auto host = test::SoftSkKey::generate(KeyAlgorithm::sk_ed25519);
    WireWriter w;
    w.put_string(Bytes(32, 1));
    w.put_u8(50);
    w.put_string("alice");
    w.put_string("ssh-connection");
    w.put_string("publickey-hostbound-v00@openssh.com");
    w.put_bool(true);
    w.put_string(key.public_key().type_name());
    w.put_string(key.public_key().blob());
    w.put_string(host.public_key().blob());
    auto login = describe_signed_data(w.bytes(), "");
    ASSERT_TRUE(login) << login.error().message;
    EXPECT_EQ(login->kind, SignPurpose::Kind::login);
    EXPECT_EQ(login->user, "alice");
    EXPECT_EQ(login->host_key_fp, host.public_key().fingerprint());
    EXPECT_NE(login->describe().find("alice"), std::string::npos);

    StepUpContext ctx{"alice", "bob", "web1", "sudo", "/usr/bin/systemctl restart nginx", 0};
    auto challenge = stepup_challenge(ctx);
    ASSERT_TRUE(challenge);
    auto data = stepup_signed_data(*challenge);
    ASSERT_TRUE(data);
    auto step = describe_signed_data(*data, *challenge);
    ASSERT_TRUE(step) << step.error().message;
    EXPECT_EQ(step->kind, SignPurpose::Kind::stepup);
    EXPECT_EQ(step->command, "/usr/bin/systemctl restart nginx");
    EXPECT_EQ(step->host, "web1");
    // The authenticator names both the target and the user who asks.
    EXPECT_EQ(step->requester, "bob");
    EXPECT_NE(step->describe().find("step-up for 'alice' requested by 'bob'"), std::string::npos)
        << step->describe();
    // A description that is not what is signed is refused, not shown.
    std::string lie = *challenge;
    lie.replace(lie.find("nginx"), 5, "sshd!");
    EXPECT_FALSE(describe_signed_data(*data, lie));
    // Without a description it is still named for what it is.
    auto bare = describe_signed_data(*data, "");
    ASSERT_TRUE(bare);
    EXPECT_EQ(bare->kind, SignPurpose::Kind::sshsig);

    EXPECT_FALSE(describe_signed_data(Bytes{0, 0, 0, 1, 1, 51}, ""));
    Bytes truncated = w.bytes();
    truncated.pop_back();
    EXPECT_FALSE(describe_signed_data(truncated, ""));
}

TEST(AgentProtocol, ParsesRequestsStrictly) {
    auto ids = parse_agent_request(Bytes{agentmsg::kRequestIdentities});
    ASSERT_TRUE(ids);
    EXPECT_EQ(ids->kind, AgentRequest::Kind::identities);
    EXPECT_FALSE(parse_agent_request(Bytes{agentmsg::kRequestIdentities, 0}));
    WireWriter w;
    w.put_u8(agentmsg::kSignRequest);
    w.put_string(Bytes{1});
    w.put_string(Bytes{2, 3});
    w.put_u32(0);
    auto sign = parse_agent_request(w.bytes());
    ASSERT_TRUE(sign);
    EXPECT_EQ(sign->kind, AgentRequest::Kind::sign);
    EXPECT_EQ(sign->data, (Bytes{2, 3}));
    Bytes cut = w.bytes();
    cut.pop_back();
    EXPECT_FALSE(parse_agent_request(cut));
    EXPECT_FALSE(parse_agent_request(Bytes{}));
    WireWriter e;
    e.put_u8(agentmsg::kExtension);
    e.put_string(std::string(200, 'x'));
    EXPECT_FALSE(parse_agent_request(e.bytes()));
    auto other = parse_agent_request(Bytes{17});
    ASSERT_TRUE(other);
    EXPECT_EQ(other->kind, AgentRequest::Kind::other);
    EXPECT_EQ(other->type, 17);
}

TEST(AgentProtocol, ParsesSessionBindStrictly) {
    auto bind = [](std::string_view key, std::string_view id, std::string_view sig, int fwd,
                   std::string_view tail = "") {
        WireWriter w;
        w.put_string(key);
        w.put_string(id);
        w.put_string(sig);
        Bytes b = w.bytes();
        if (fwd >= 0)
            b.push_back(static_cast<uint8_t>(fwd));
        b.insert(b.end(), tail.begin(), tail.end());
        return b;
    };
    auto ok = SessionBind::parse(bind("hostkey", std::string(32, 's'), "sig", 1));
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_TRUE(ok->forwarding);
    EXPECT_FALSE(SessionBind::parse(bind("hostkey", std::string(32, 's'), "sig", 0))->forwarding);
    for (const Bytes& bad :
         {bind("", "id", "sig", 0), bind("k", "", "sig", 0), bind("k", "id", "", 0),
          bind("k", std::string(65, 's'), "sig", 0), bind("k", "id", "sig", -1),
          bind("k", "id", "sig", 2), bind("k", "id", "sig", 0, "x"), Bytes{0, 0, 0}})
        EXPECT_FALSE(SessionBind::parse(bad));
}

TEST(Listener, ReplacesAStaleSocketButNotALiveOne) {
    test::TempDir dir;
    std::string path = dir.file("agent.sock");
    {
        auto first = Listener::bind_unix(path);
        ASSERT_TRUE(first) << first.error().message;
        auto second = Listener::bind_unix(path);
        ASSERT_FALSE(second);
        EXPECT_NE(second.error().message.find("already running"), std::string::npos);
    }
    // A socket file nobody listens on any more (a crashed agent) is replaced.
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    close(fd);
    EXPECT_TRUE(Listener::bind_unix(path));
    test::write_file(dir.file("plain"), "x");
    EXPECT_FALSE(Listener::bind_unix(dir.file("plain")));
}

TEST(ChannelAddress, TakesUnixAndTcpAndRefusesTheRest) {
    for (const char* ok : {"unix:/run/x.sock", "tcp:192.0.2.1:7422", "tcp:[2001:db8::1]:1",
                           "tcp:laptop.example.org:65535", "tcp:[::]:7422"})
        EXPECT_TRUE(check_channel_address(ok)) << ok;
    for (const char* bad :
         {"", "unix:relative", "tcp:", "tcp:host", "tcp:host:", "tcp::7422", "tcp:host:0",
          "tcp:host:65536", "tcp:host:72x", "tcp:2001:db8::1:7422", "tcp:[::1]7422", "tcp:[::1",
          "tcp:ho st:1", "tcp:host/x:1", "udp:host:1", "http://host:1"})
        EXPECT_FALSE(check_channel_address(bad)) << bad;
    // And a pairing URI carries a TCP address intact.
    PairingUri uri;
    uri.address = "tcp:[2001:db8::1]:7422";
    uri.agent_key = Bytes(32, 1);
    uri.token = Bytes(16, 2);
    auto back = PairingUri::parse(uri.format());
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->address, uri.address);
}

// The link over TCP on loopback: a session's frames both ways, and the
// listener's port refused to a second listener.
TEST(Listener, CarriesASessionOverTcp) {
    int port = test::free_port();
    std::string address = "tcp:127.0.0.1:" + std::to_string(port);
    auto listener = Listener::bind_tcp(address);
    ASSERT_TRUE(listener) << listener.error().message;
    EXPECT_FALSE(Listener::bind_tcp(address));
    PairingRecord rec = test_record();
    std::unique_ptr<SecureChannel> agent_side;
    std::thread t([&] {
        auto fd = listener->accept(5000);
        if (!fd)
            return;
        auto r = session_accept(std::make_shared<SocketTransport>(*fd), rec, 5000);
        if (r)
            agent_side = std::move(*r);
    });
    auto transport = connect_channel(address, 5000);
    ASSERT_TRUE(transport) << transport.error().message;
    auto auth_side = session_connect(std::shared_ptr<Transport>(std::move(*transport)), rec, 5000);
    t.join();
    ASSERT_TRUE(auth_side) << auth_side.error().message;
    ASSERT_TRUE(agent_side);
    ASSERT_TRUE(agent_side->send(message(8)));
    auto got = (*auth_side)->receive(5000);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got->get_uint(msg::field::kId, "id"), 8u);
    // Nobody listens on a closed port: a clear error, not a hang.
    auto refused = connect_channel("tcp:127.0.0.1:" + std::to_string(test::free_port()), 2000);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("cannot connect"), std::string::npos)
        << refused.error().message;
}

// One number, one meaning: no two fields share a key, no two messages a type.
TEST(LinkMessageIds, NoKeyOrTypeIsUsedTwice) {
    auto unique = [](auto all) {
        std::sort(all.begin(), all.end());
        return std::adjacent_find(all.begin(), all.end()) == all.end();
    };
    EXPECT_TRUE(unique(msg::field::kAll));
    EXPECT_TRUE(unique(msg::type::kAll));
    for (uint64_t key : msg::field::kAll)
        EXPECT_LE(key, kMaxCborFieldKey);
}

// Passkeys made and used by a real browser: Debian's Chromium, headless,
// with a DevTools WebAuthn virtual authenticator (CTAP2; internal, USB and
// hybrid "cable" transports; with and without user verification), driven by
// tests/browser/webauthn_browser.py. What the browser answers goes through
// skgate's own parser (core/fido/webauthn), skgatectl enroll, skgate's
// verifier and the stock ssh-keygen, which must all agree.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <sstream>

#include "core/fido/webauthn.h"
#include "core/ssh/sksig.h"
#include "core/ssh/sshsig.h"
#include "core/sys/base64.h"
#include "core/sys/text.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;

namespace {

const Bytes kChallenge = to_bytes(as_bytes("a registration challenge, 32 B.."));
constexpr std::string_view kNamespace = "skgate-browser-test";
const std::string kMessage = "sudo for skgt-alice on this host\n";

struct BrowserRun {
    std::map<std::string, std::string> values;
    std::string err;
    int status = 0;
    std::string get(const std::string& k) const {
        auto it = values.find(k);
        return it == values.end() ? "" : it->second;
    }
    Bytes bytes(const std::string& k) const {
        auto b = base64url_decode_unpadded(get(k));
        if (!b)
            throw std::runtime_error(k + " is not base64url: " + b.error().message);
        return *b;
    }
    WebauthnOrigin page() const { return {"localhost", get("origin")}; }
};

// The bytes a passkey signs for an SSHSIG of kMessage: what the agent
// passes to the page as the challenge.
Bytes sshsig_data() {
    return *sshsig_signed_data(kNamespace, "sha512", as_bytes(kMessage));
}

BrowserRun browser(const std::vector<std::string>& options, ByteView data = {}) {
    std::vector<std::string> argv{
        "python3",     required_env("SKGATE_SOURCE_ROOT") + "/tests/browser/webauthn_browser.py",
        "--challenge", base64url_encode_unpadded(kChallenge),
        "--data",      base64url_encode_unpadded(data.empty() ? ByteView(sshsig_data()) : data)};
    argv.insert(argv.end(), options.begin(), options.end());
    RunResult r = run(argv);
    BrowserRun out{{}, r.err, r.status};
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        auto eq = line.find('=');
        if (eq != std::string::npos)
            out.values[line.substr(0, eq)] = line.substr(eq + 1);
    }
    return out;
}

Result<PasskeyRegistration> registration(const BrowserRun& b) {
    return PasskeyRegistration::parse(b.bytes("create.attestationObject"),
                                      b.bytes("create.clientDataJSON"), kChallenge, b.page());
}

WebauthnAssertion assertion(const BrowserRun& b) {
    return {b.bytes("get.authenticatorData"), b.bytes("get.clientDataJSON"),
            b.bytes("get.signature")};
}

class Browser : public ::testing::Test {
  protected:
    void SetUp() override {
        if (run({"sh", "-c", "command -v chromium"}).status != 0)
            GTEST_SKIP() << "Debian's chromium is not installed (scripts/install-deps installs it)";
    }
    TempDir dir;
};

}  // namespace

// For each transport: the browser's registration becomes an SSH key, its
// packed attestation verifies, and the signature the browser makes for an
// SSHSIG is accepted by ssh-keygen -Y check-novalidate and by skgate's
// verifier, for that message only.
TEST_F(Browser, EachTransportsPasskeySignsWhatSshKeygenAndSkgateVerify) {
    for (const std::string transport : {"internal", "usb", "cable"}) {
        SCOPED_TRACE(transport);
        BrowserRun b = browser({"--transport", transport});
        ASSERT_EQ(b.status, 0) << b.err;
        ASSERT_EQ(b.get("create.error"), "");
        ASSERT_EQ(b.get("get.error"), "");
        EXPECT_EQ(b.get("browser").rfind("Chrome/", 0), 0u) << b.get("browser");
        auto reg = registration(b);
        ASSERT_TRUE(reg.ok()) << reg.error().message;
        EXPECT_EQ(reg->key.type_name(), "sk-ecdsa-sha2-nistp256@openssh.com");
        EXPECT_EQ(reg->key.application(), "localhost");
        EXPECT_EQ(reg->format, "packed");
        EXPECT_FALSE(reg->attestation.certificate.empty());

        auto blob = webauthn_signature_blob(reg->key, assertion(b), b.page(), sshsig_data());
        ASSERT_TRUE(blob.ok()) << blob.error().message;
        SshSig sig{reg->key, std::string(kNamespace), "sha512", *blob};
        write_file(dir.file("message.sig"), sshsig_armor(sig.serialize()));
        auto check = run({"ssh-keygen", "-Y", "check-novalidate", "-n", std::string(kNamespace),
                          "-s", dir.file("message.sig")},
                         kMessage);
        EXPECT_EQ(check.status, 0) << check.out << check.err;
        auto ours = sshsig_verify(sig, as_bytes(kMessage), kNamespace);
        ASSERT_TRUE(ours.ok()) << ours.error().message;
        EXPECT_TRUE(ours->user_present());

        auto other = run({"ssh-keygen", "-Y", "check-novalidate", "-n", std::string(kNamespace),
                          "-s", dir.file("message.sig")},
                         "sudo for skgt-mallory\n");
        EXPECT_NE(other.status, 0);
        EXPECT_FALSE(sshsig_verify(sig, as_bytes("sudo for skgt-mallory\n"), kNamespace).ok());
    }
}

// What skgatectl enroll makes of the browser's attestation (the
// clientDataJSON is the challenge file), under the policy that allows the
// application, and how it refuses it without.
TEST_F(Browser, SkgatectlEnrollsTheBrowsersAttestation) {
    if (!running_as_root())
        GTEST_SKIP() << "enroll writes root-owned files";
    BrowserRun b = browser({"--create-uv", "required"});
    ASSERT_EQ(b.status, 0) << b.err;
    auto reg = registration(b);
    ASSERT_TRUE(reg.ok()) << reg.error().message;
    Bytes att = reg->attestation.serialize();
    write_file(dir.file("passkey.att"), std::string(as_chars(att)));
    write_file(dir.file("client-data"), std::string(as_chars(b.bytes("create.clientDataJSON"))));
    std::string base = "KeysDirectory " + dir.file("keys.d") + "\nRevokedKeys " +
                       dir.file("revoked") + "\nStateDirectory " + dir.file("state") + "\n";
    write_file(dir.file("skgate.conf"), base);
    std::vector<std::string> enroll{required_env("SKGATE_SKGATECTL"),
                                    "enroll",
                                    "-f",
                                    dir.file("skgate.conf"),
                                    "--user",
                                    "root",
                                    "--key",
                                    reg->key.to_text(),
                                    "--attestation",
                                    dir.file("passkey.att"),
                                    "--challenge",
                                    dir.file("client-data")};
    auto refused = run(enroll);
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("application \"localhost\" is not in AllowedApplications"),
              std::string::npos)
        << refused.err;

    write_file(dir.file("skgate.conf"),
               base + "AllowedApplications ssh:* localhost\nRequireAttestation yes\n");
    auto enrolled = run(enroll);
    ASSERT_EQ(enrolled.status, 0) << enrolled.err;
    std::string store = read_file(dir.file("keys.d/root"));
    EXPECT_NE(store.find("attestation=\"packed\""), std::string::npos) << store;
    EXPECT_NE(store.find("attestation=\"packed\",uv "), std::string::npos) << store;
}

// User verification: a key that requires it gets UV in its signatures only
// when the authenticator verified the person; an authenticator that cannot
// (or a person who was not verified) fails the request in the browser.
TEST_F(Browser, UserVerificationIsWhatTheAuthenticatorDid) {
    BrowserRun verified = browser({"--get-uv", "required"});
    ASSERT_EQ(verified.status, 0) << verified.err;
    auto reg = registration(verified);
    ASSERT_TRUE(reg.ok()) << reg.error().message;
    auto blob =
        webauthn_signature_blob(reg->key, assertion(verified), verified.page(), sshsig_data());
    ASSERT_TRUE(blob.ok()) << blob.error().message;
    EXPECT_TRUE(verify_sk_signature(reg->key, *blob, sshsig_data())->user_verified());

    BrowserRun presence = browser({"--uv-capable", "no", "--get-uv", "discouraged"});
    ASSERT_EQ(presence.status, 0) << presence.err;
    auto reg2 = registration(presence);
    ASSERT_TRUE(reg2.ok()) << reg2.error().message;
    auto blob2 =
        webauthn_signature_blob(reg2->key, assertion(presence), presence.page(), sshsig_data());
    ASSERT_TRUE(blob2.ok()) << blob2.error().message;
    auto v2 = verify_sk_signature(reg2->key, *blob2, sshsig_data());
    EXPECT_TRUE(v2->user_present());
    EXPECT_FALSE(v2->user_verified());

    // Chromium's virtual authenticator, able to verify but failing to, makes
    // nothing and signs nothing: the request ends NotAllowedError.
    BrowserRun unverified = browser({"--uv", "no", "--get-uv", "required"});
    ASSERT_EQ(unverified.status, 0) << unverified.err;
    EXPECT_EQ(unverified.get("create.error"), "NotAllowedError");
    EXPECT_EQ(unverified.get("get.signature"), "");
    BrowserRun incapable = browser({"--uv-capable", "no", "--create-uv", "required"});
    ASSERT_EQ(incapable.status, 0) << incapable.err;
    EXPECT_EQ(incapable.get("create.error"), "NotAllowedError");
}

// A page of another origin cannot use the localhost relying party (the
// browser refuses), an answer from another page is refused by skgate's
// parser, and an assertion replayed for other data verifies nowhere.
TEST_F(Browser, ForgedOriginsAndReplayedAssertionsAreRefused) {
    BrowserRun ip = browser({"--host", "127.0.0.1"});
    ASSERT_EQ(ip.status, 0) << ip.err;
    EXPECT_EQ(ip.get("create.error"), "SecurityError");

    BrowserRun b = browser({});
    ASSERT_EQ(b.status, 0) << b.err;
    auto reg = registration(b);
    ASSERT_TRUE(reg.ok()) << reg.error().message;
    WebauthnOrigin elsewhere{"localhost", "http://localhost:1"};
    EXPECT_FALSE(PasskeyRegistration::parse(b.bytes("create.attestationObject"),
                                            b.bytes("create.clientDataJSON"), kChallenge, elsewhere)
                     .ok());
    EXPECT_FALSE(webauthn_signature_blob(reg->key, assertion(b), elsewhere, sshsig_data()).ok());

    Bytes other_data = *sshsig_signed_data(kNamespace, "sha512", as_bytes("another command\n"));
    auto replayed = webauthn_signature_blob(reg->key, assertion(b), b.page(), other_data);
    ASSERT_FALSE(replayed.ok());
    EXPECT_NE(replayed.error().message.find("another challenge"), std::string::npos)
        << replayed.error().message;
    // The genuine blob, offered for the other data, does not verify either.
    auto blob = webauthn_signature_blob(reg->key, assertion(b), b.page(), sshsig_data());
    ASSERT_TRUE(blob.ok());
    EXPECT_FALSE(verify_sk_signature(reg->key, *blob, other_data).ok());
}

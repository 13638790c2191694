// A browser's WebAuthn answers as the agent's page posts them: the
// attestationObject and clientDataJSON of a registration, and the parts of
// an assertion. The first byte says which part the rest is; the others are
// fixed, well-formed values. No crash, and nothing signed is ever accepted
// for a key the fuzzer does not hold.
#include <cstdlib>
#include <string>

#include "core/fido/webauthn.h"
#include "core/sys/sha256.h"

namespace {

const skgate::WebauthnOrigin kPage{"localhost", "http://localhost:41234"};
const std::string kData = "the data the agent was asked to sign";
const std::string kCreateClientData =
    R"({"type":"webauthn.create","challenge":"dGhlIGRhdGEgdGhlIGFnZW50IHdhcyBhc2tlZCB0byBzaWdu",)"
    R"("origin":"http://localhost:41234","crossOrigin":false})";

const std::string kGetClientData =
    R"({"type":"webauthn.get","challenge":"dGhlIGRhdGEgdGhlIGFnZW50IHdhcyBhc2tlZCB0byBzaWdu",)"
    R"("origin":"http://localhost:41234","crossOrigin":false})";

const skgate::PublicKey& passkey() {
    static const auto key = [] {
        auto base = skgate::PublicKey::parse_text(
            "sk-ecdsa-sha2-nistp256@openssh.com "
            "AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBGdVPkKOLUMZ7"
            "b6rZfS8BOHotic4NX4MmuyEmiuvkaeKlbb1F+5oNezRYHpcF6P104trNVEONCu1XX1CA7px+QUAAAAEc3NoOg"
            "==");
        if (!base)
            std::abort();
        auto k = skgate::PublicKey::make_sk_ecdsa(base->key_material(), "localhost");
        if (!k)
            std::abort();
        return *k;
    }();
    return key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0)
        return 0;
    skgate::ByteView in(data + 1, size - 1);
    skgate::ByteView challenge = skgate::as_bytes(kData);
    switch (data[0] % 4) {
        case 0: {
            auto r = skgate::PasskeyRegistration::parse(in, skgate::as_bytes(kCreateClientData),
                                                        challenge, kPage);
            if (r) {
                if (r->key.application() != kPage.rp_id || r->credential_id.empty())
                    std::abort();
                auto back = skgate::SkAttestation::parse(r->attestation.serialize());
                if (!back || back->auth_data != r->attestation.auth_data)
                    std::abort();
            }
            break;
        }
        case 1:
            (void)skgate::PasskeyRegistration::parse(skgate::ByteView{}, in, challenge, kPage);
            break;
        default: {
            // The rest as authenticatorData (2) or clientDataJSON (3), with
            // a signature the fuzzer cannot have made.
            skgate::WebauthnAssertion a;
            a.signature = {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01};
            if (data[0] % 4 == 2) {
                a.authenticator_data.assign(in.begin(), in.end());
                a.client_data_json.assign(kGetClientData.begin(), kGetClientData.end());
            } else {
                // SHA-256("localhost"), UP, counter 5: well-formed.
                static const skgate::Sha256 rp = skgate::sha256(skgate::as_bytes("localhost"));
                a.authenticator_data.assign(rp.begin(), rp.end());
                a.authenticator_data.insert(a.authenticator_data.end(), {0x01, 0, 0, 0, 5});
                a.client_data_json.assign(in.begin(), in.end());
            }
            if (skgate::webauthn_signature_blob(passkey(), a, kPage, challenge).ok())
                std::abort();
        }
    }
    return 0;
}

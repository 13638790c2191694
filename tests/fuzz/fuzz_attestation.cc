// ssh-sk-attest-v01 files, the authenticator data and COSE keys inside them.
#include <cstdlib>

#include "core/fido/attestation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const auto key = skgate::PublicKey::parse_text(
        "sk-ecdsa-sha2-nistp256@openssh.com "
        "AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBGdVPkKOLUMZ7b6r"
        "ZfS8BOHotic4NX4MmuyEmiuvkaeKlbb1F+5oNezRYHpcF6P104trNVEONCu1XX1CA7px+QUAAAAEc3NoOg==");
    if (!key)
        std::abort();
    skgate::ByteView in(data, size);
    auto att = skgate::SkAttestation::parse(in);
    if (att) {
        auto again = skgate::SkAttestation::parse(att->serialize());
        if (!again || again->auth_data != att->auth_data)
            std::abort();
        // A fuzzer cannot forge an attestation for a key it does not hold;
        // "none" signs nothing, and is accepted as nothing more.
        auto verified = skgate::verify_attestation(*att, *key, in);
        if (verified && (verified->format != "none" || !verified->aaguid.empty() ||
                         verified->user_verified || verified->chained))
            std::abort();
    }
    (void)skgate::AuthenticatorData::parse(in);
    size_t used = 0;
    (void)skgate::cbor_read_cose_key(in, &used);
    return 0;
}

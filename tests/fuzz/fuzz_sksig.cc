// Security-key signature blobs, parsed and verified against fixed keys.
#include <cstdlib>

#include "core/ssh/sksig.h"

namespace {

const skgate::PublicKey& key(bool ed25519) {
    static const auto ec = skgate::PublicKey::parse_text(
        "sk-ecdsa-sha2-nistp256@openssh.com "
        "AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBGdVPkKOLUMZ7b6r"
        "ZfS8BOHotic4NX4MmuyEmiuvkaeKlbb1F+5oNezRYHpcF6P104trNVEONCu1XX1CA7px+QUAAAAEc3NoOg==");
    static const auto ed = skgate::PublicKey::parse_text(
        "sk-ssh-ed25519@openssh.com "
        "AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAICFo/k5LU8863u66YC9eUO2170QduohPURkQnbLa/dc"
        "nAAAABHNzaDo=");
    if (!ec || !ed)
        std::abort();
    return ed25519 ? *ed : *ec;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const uint8_t msg[] = "fuzz";
    (void)skgate::SkSignature::parse({data, size});
    // A fuzzer-made blob must never verify.
    if (skgate::verify_sk_signature(key(false), {data, size}, msg).ok() ||
        skgate::verify_sk_signature(key(true), {data, size}, msg).ok())
        std::abort();
    return 0;
}

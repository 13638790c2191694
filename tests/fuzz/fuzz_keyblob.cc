// Key blobs from agents, SSHSIG and key lines.
#include <cstdlib>

#include "core/ssh/ossl.h"
#include "core/ssh/sshkey.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto k = skgate::PublicKey::parse_blob({data, size});
    if (!k)
        return 0;
    // Whatever parses must re-encode to itself and survive the text form.
    auto again = skgate::PublicKey::parse_blob(k->blob());
    auto text = skgate::PublicKey::parse_text(k->to_text());
    if (!again || !(*again == *k) || !text || !(*text == *k) || k->fingerprint().size() != 50)
        std::abort();
    if (!skgate::PublicKey::parse_blob(k->plain_blob()))
        std::abort();
    (void)skgate::ossl::validate_key(*k);
    return 0;
}

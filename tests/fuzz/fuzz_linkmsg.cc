// A decrypted channel message from the network: the CBOR map, every message
// type built on it, the pairing hello, and the pairing record (the same
// encoding on disk).
#include "core/fido/cbor_fields.h"
#include "core/link/link_messages.h"
#include "core/link/pairing.h"
#include "core/link/pairing_handshake.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    skgate::ByteView in(data, size);
    auto fields = skgate::CborFields::parse(in);
    if (fields) {
        (void)skgate::parse_pairing_hello(*fields);
        auto m = skgate::parse_link_message(*fields);
        if (m) {
            // What parses must encode and parse back to the same message type.
            auto again = std::visit([](const auto& x) { return x.to_fields(); }, *m);
            auto back =
                skgate::parse_link_message(skgate::CborFields::parse(again.encode()).value());
            if (!back || back->index() != m->index())
                __builtin_trap();
        }
    }
    (void)skgate::PairingRecord::parse(in);
    return 0;
}

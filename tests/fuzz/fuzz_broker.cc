// What a broker address (from a pairing URI or a pairing record) and a
// broker.conf can hold: both are parsed before anything connects.
#include <string>
#include <string_view>

#include "core/link/broker_settings.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto address = skgate::BrokerAddress::parse(text);
    if (address) {
        auto back = skgate::BrokerAddress::parse(address->format());
        if (!back || back->host != address->host || back->port != address->port ||
            back->topic != address->topic)
            __builtin_trap();
    }
    (void)skgate::BrokerSettings::parse(text, "fuzz");
    return 0;
}

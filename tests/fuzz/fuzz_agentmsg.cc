// What an ssh-agent client (ssh, a forwarded connection, pam_skgate) sends
// skgate-agent, and the data it asks to sign as the authenticator reads it.
#include "core/agent_protocol.h"
#include "core/sign_purpose.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto req = skgate::parse_agent_request(skgate::ByteView(data, size));
    if (req) {
        if (auto* s = std::get_if<skgate::AgentSignRequest>(&*req))
            (void)skgate::describe_signed_data(s->data, "");
    }
    return 0;
}

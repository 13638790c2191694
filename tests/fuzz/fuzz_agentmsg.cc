// What an ssh-agent client (ssh, a forwarded connection, pam_skgate) sends
// skgate-agent, and the data it asks to sign as the authenticator reads it.
#include "core/ssh/agent_protocol.h"
#include "core/ssh/sign_purpose.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto req = skgate::parse_agent_request(skgate::ByteView(data, size));
    if (req) {
        if (req->kind == skgate::AgentRequest::Kind::sign)
            (void)skgate::describe_signed_data(req->data, "");
        if (req->kind == skgate::AgentRequest::Kind::extension)
            (void)skgate::SessionBind::parse(req->contents);
    }
    return 0;
}

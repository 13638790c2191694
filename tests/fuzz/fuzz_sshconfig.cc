// ~/.ssh/config as skgate-agent setup reads it: whatever it holds, adding
// the block and removing it again gives back exactly the input. And the
// same bytes as a known_hosts file, which the agent reads to name servers.
#include <string>

#include "agent/known_hosts.h"
#include "agent/ssh_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    (void)skgate::agent::known_host_names(in, "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
    auto added = skgate::agent::add_block(in, "/home/u/.skgate/agent.sock", {}, false);
    if (!added)
        return 0;
    bool del = false;
    auto removed = skgate::agent::remove_block(added->text, &del);
    bool had_block = in.find("# Begin skgate\n") != std::string::npos;
    if (!removed || (!had_block && removed->text != in))
        __builtin_trap();
    return 0;
}

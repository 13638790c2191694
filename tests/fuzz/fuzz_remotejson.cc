// Remote sources' answers: the JSON documents (metadata ssh-keys, generic
// HTTP keys) and a single key value as LDAP's sshPublicKey carries it. No
// crash, and no accepted key carries options or anything that could start
// another authorized_keys line.
#include <string>

#include "core/sources/remote_keys.h"

namespace {

void check_entry(const skgate::AuthorizedKey& entry) {
    if (!entry.options.empty())
        __builtin_trap();
    for (char c : entry.comment)
        if (static_cast<unsigned char>(c) < 0x20)
            __builtin_trap();
}

void check(const skgate::Result<skgate::RemoteKeys>& r) {
    if (!r)
        return;
    for (const auto& k : r->keys)
        check_entry(k.entry);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    check(skgate::parse_metadata_ssh_keys(in, "alice"));
    check(skgate::parse_http_keys(in));
    if (auto line = skgate::parse_remote_key_line(in))
        check_entry(*line);
    return 0;
}

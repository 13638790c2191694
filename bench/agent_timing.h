// What the agent benchmarks share: the median of a run, and one signature
// through the agent as ssh asks for it (a connection per request).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/ssh/agent_client.h"
#include "core/ssh/sshkey.h"

namespace skgate::bench {

inline double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

inline bool sign_once(const std::string& socket, const PublicKey& key, const Bytes& data) {
    auto c = AgentClient::connect(socket, geteuid(), 30000);
    return c && c->sign(key, data);
}

}  // namespace skgate::bench

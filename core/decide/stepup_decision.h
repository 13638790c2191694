// The step-up decision (DESIGN.md section 7), whole: who may approve, which
// enrolled key in the user's agent, the challenge, the signature, its flags
// and counter, under one deadline. pam_skgate turns the outcome into a PAM
// code and an audit event; bench/bench_stepup runs the same function against
// an in-process agent. It enforces in every Mode: audit mode is for logins.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy/policy.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/sshkey.h"
#include "core/sys/account.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

// What the step-up needs of the user's agent: AgentClient in pam_skgate.
class StepUpAgent {
  public:
    virtual ~StepUpAgent() = default;
    virtual Result<std::vector<AgentIdentity>> identities() = 0;
    // The skgate-stepup-context extension; agents that do not know it fail,
    // and that is fine.
    virtual void describe(std::string_view challenge) = 0;
    // An ErrorCode::permission error when the agent refuses.
    virtual Result<Bytes> sign(const PublicKey& key, ByteView data) = 0;
};

struct StepUpRequest {
    std::string user;       // whose approval (PAM_USER)
    uid_t caller = 0;       // the real uid of the process that asks
    std::string requester;  // its name, for the challenge and the log
    std::string service;    // PAM_SERVICE
    std::string host;
    std::string command;  // under sudo: the command line
    std::time_t now = 0;
    uint64_t start_us = 0;               // monotonic: the deadline counts from here
    std::optional<int> timeout_seconds;  // overrides StepUpTimeout
    std::vector<std::string> user_file_patterns;
    // Opens the user's agent as `as` (the caller's identity, or the user's
    // for root) by `deadline_us`.
    std::function<Result<std::unique_ptr<StepUpAgent>>(const Account& as, uint64_t deadline_us)>
        connect_agent;
    // Told to the person just before the wait for the authenticator.
    std::function<void(const std::string&)> before_waiting = [](const std::string&) {};
};

enum class StepUpResult {
    approved,
    refused,      // PAM_AUTH_ERR: no key, denied, flags, counter, another user's agent
    unavailable,  // PAM_AUTHINFO_UNAVAIL: no agent to ask, or it would not list its keys
    error,        // PAM_SERVICE_ERR: configuration, state or internal error
};

struct StepUpOutcome {
    StepUpResult result = StepUpResult::error;
    std::string reason;  // for the journal
    std::string tell;    // for the person; empty when approved
    std::string key_fp, key_type;
    std::optional<uint8_t> flags;
    std::optional<uint32_t> counter;
    std::vector<std::string> warnings;  // CounterCheck warn: logged, not refused
};

StepUpOutcome decide_step_up(const Policy& policy, const StepUpRequest& request);

}  // namespace skgate

// Step-up (DESIGN.md section 7): a fresh FIDO2 approval before sudo, su or
// any PAM service, requested through the user's agent as an SSHSIG over a
// challenge that names what is being approved.
#pragma once

#include <ctime>
#include <string>

#include "core/policy/settings.h"
#include "core/ssh/sksig.h"
#include "core/ssh/sshkey.h"
#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

inline constexpr const char* kStepUpNamespace = "skgate-stepup";
inline constexpr const char* kStepUpHash = "sha512";
inline constexpr size_t kStepUpNonceBytes = 32;

struct StepUpContext {
    std::string user;       // whose approval is asked (PAM_USER)
    std::string requester;  // who asks: the invoking user (real uid)
    std::string host;
    std::string service;
    std::string command;  // under sudo only: SUDO_COMMAND or sudo's command line
    std::time_t now = 0;
};

// The challenge text: a fresh random nonce and what is being approved. Field
// values are cut and stripped of control characters.
Result<std::string> stepup_challenge(const StepUpContext& ctx);

// The blob the agent is asked to sign: SSHSIG's to-be-signed data for the
// challenge under namespace skgate-stepup. Its "SSHSIG" preamble means it
// can never be replayed as an SSH login signature, and vice versa.
Result<Bytes> stepup_signed_data(const std::string& challenge);

// Verifies the agent's signature and the flags policy asks for; the counter
// is the caller's (CounterStore). Errors say why, for the user and the log.
Result<SkVerified> verify_stepup(const PublicKey& key, ByteView signature,
                                 const std::string& challenge, const UserPolicy& policy);

}  // namespace skgate

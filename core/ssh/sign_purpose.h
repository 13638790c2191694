// What a signature request is for, read from the data to be signed, so that
// an authenticator can tell the person what they approve: a login (as whom,
// to which server host key) or an SSHSIG (which namespace; for skgate's
// step-up, which command on which host). Untrusted input: strict parsing.
#pragma once

#include <string>

#include "core/sys/bytes.h"
#include "core/sys/result.h"

namespace skgate {

struct SignPurpose {
    enum class Kind { login, stepup, sshsig } kind = Kind::login;
    std::string user;           // login: the account; step-up: the user
    std::string requester;      // step-up: who asked (the invoking user), when named
    std::string service;        // login: "ssh-connection"; step-up: the PAM service
    std::string host_key_fp;    // login: SHA256 of the server's host key, when bound
    std::string host;           // step-up: the host the challenge names
    std::string command;        // step-up: the command
    std::string sig_namespace;  // SSHSIG

    // One line for the prompt.
    std::string describe() const;
};

// `context` is the SSHSIG message, if the requester sent it: it is believed
// only when its hash is the one in `data`.
Result<SignPurpose> describe_signed_data(ByteView data, std::string_view context);

}  // namespace skgate

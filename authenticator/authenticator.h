// The software authenticator's behaviour (the phone's role): makes keys,
// asks the person, signs, counts. It answers what a FIDO2 authenticator
// answers: authData with flags and counter, signatures, packed
// self-attestation.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "authenticator/approver.h"
#include "authenticator/vault.h"
#include "core/fido/attestation.h"
#include "core/link/channel.h"
#include "core/link/link_messages.h"

namespace skgate::authenticator {

// "skgate-soft-auth": the AAGUID of this software authenticator.
inline constexpr Aaguid kSoftwareAaguid = {'s', 'k', 'g', 'a', 't', 'e', '-', 's',
                                           'o', 'f', 't', '-', 'a', 'u', 't', 'h'};

class Authenticator {
  public:
    Authenticator(Vault& vault, Approver& approver) : vault_(vault), approver_(approver) {}

    // Every request gets an answer, a refusal included (a prompt nobody
    // answered is LinkStatus::timeout).
    RegisterResponse handle(const RegisterRequest& req);
    SignResponse handle(const SignRequest& req);

    // Serves requests on an open session until it closes: each request in
    // its own thread, so a pending approval never blocks the others.
    // `unpaired` when the agent said this device is no longer paired.
    enum class SessionEnd { closed, unpaired };
    Result<SessionEnd> serve(SecureChannel& channel);

  private:
    // user verification: true when the PIN checked out.
    bool verify_user(const std::string& what);
    bool in_window(const std::string& key);

    Vault& vault_;
    Approver& approver_;
    std::mutex mutex_;  // the vault, the windows and the counters issued
    std::map<std::string, std::chrono::steady_clock::time_point> windows_;
    // The highest counter this process has issued for each credential (by
    // id): an older copy of the vault file put back (a restored backup) must
    // not make it issue a counter a server has seen already. Only within
    // this process: a restored file read at start is believed.
    std::map<Bytes, uint32_t> issued_;
};

}  // namespace skgate::authenticator

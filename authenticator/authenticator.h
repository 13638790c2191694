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
    // `any_host_max_minutes`: the longest "any host" window the owner
    // allows (run --any-host-max); 0 never offers one.
    Authenticator(Vault& vault, Approver& approver, int any_host_max_minutes = 0)
        : vault_(vault), approver_(approver), any_host_max_minutes_(any_host_max_minutes) {}

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
    // Minutes left (rounded up) of the "any host" window; 0 when closed.
    int64_t any_host_minutes_left();

    Vault& vault_;
    Approver& approver_;
    std::mutex mutex_;  // the vault, the windows and the counters issued
    std::map<std::string, std::chrono::steady_clock::time_point> windows_;
    int any_host_max_minutes_ = 0;
    std::optional<std::chrono::steady_clock::time_point> any_host_until_;
    // The highest counter this process has issued for each credential (by
    // id): an older copy of the vault file put back (a restored backup) must
    // not make it issue a counter a server has seen already. Only within
    // this process: a restored file read at start is believed.
    std::map<Bytes, uint32_t> issued_;
};

}  // namespace skgate::authenticator

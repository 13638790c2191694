// An ssh-agent holding one passkey, answering each sign request as
// skgate-agent does for a passkey key: the assertion a browser makes for
// that data (clientDataJSON in Chromium's member order) turned into a
// webauthn-sk-ecdsa signature by core's webauthn_signature_blob. For tests
// of what stock OpenSSH programs do with such signatures.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "core/fido/webauthn.h"
#include "tests/support/softkey.h"

namespace skgate::test {

class PasskeyTestAgent {
  public:
    // counterless: every signature carries counter 0, as a synced
    // passkey's do; otherwise the counter goes up from 1.
    PasskeyTestAgent(std::string socket_path, const SoftSkKey& key, WebauthnOrigin page,
                     uint8_t flags = 0x01, bool counterless = false);
    ~PasskeyTestAgent();
    PasskeyTestAgent(const PasskeyTestAgent&) = delete;
    PasskeyTestAgent& operator=(const PasskeyTestAgent&) = delete;

    const std::string& socket() const { return path_; }
    int sign_requests() const { return signs_.load(); }

  private:
    void serve();
    void serve_connection(int fd);
    Bytes answer(ByteView request);

    std::string path_;
    const SoftSkKey& key_;
    WebauthnOrigin page_;
    uint8_t flags_;
    bool counterless_;
    uint32_t counter_ = 0;
    int listen_fd_ = -1;
    int stop_pipe_[2] = {-1, -1};
    std::atomic<int> signs_{0};
    std::thread thread_;
};

}  // namespace skgate::test

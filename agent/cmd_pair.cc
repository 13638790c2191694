// skgate-agent pair [--timeout SECONDS] / skgate-agent unpair
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "agent/commands.h"
#include "agent/keyring.h"
#include "agent/qr.h"
#include "core/audit/audit.h"
#include "core/link/channel.h"
#include "core/link/channel_crypto.h"
#include "core/link/pairing.h"
#include "core/link/pairing_handshake.h"
#include "core/sys/args.h"

namespace skgate::agent {

namespace {

int fail(const std::string& what) {
    std::fprintf(stderr, "skgate-agent: pair: %s\n", what.c_str());
    return kExitFailure;
}

// While one authenticator is pairing, anyone else who connects is told no:
// a pairing has exactly one responder.
class SecondResponderGuard {
  public:
    explicit SecondResponderGuard(Listener& listener)
        : thread_([this, &listener] {
              while (!stop_.load()) {
                  auto fd = listener.accept(100);
                  if (!fd)
                      continue;
                  SocketTransport t(*fd);
                  refuse_second_responder(t);
                  std::fprintf(stderr,
                               "skgate-agent: pair: a second device tried to answer this "
                               "pairing and was refused\n");
                  AuditEvent e;
                  e.event = "agent-pair";
                  e.decision = Decision::deny;
                  e.reason = "second responder";
                  e.message = "refused a second device answering a pairing";
                  audit_record(e);
              }
          }) {}
    ~SecondResponderGuard() {
        stop_.store(true);
        thread_.join();
    }
    SecondResponderGuard(const SecondResponderGuard&) = delete;
    SecondResponderGuard& operator=(const SecondResponderGuard&) = delete;

  private:
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

Status send_verdict(SecureChannel& ch, bool ok, const std::string& reason,
                    const AgentPaths& paths) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return send_pairing_verdict(ch, ok, reason,
                                std::string(host).substr(0, kMaxDeviceName - 6) + " agent",
                                "unix:" + paths.link_socket());
}

}  // namespace

int cmd_pair(const Args& args) {
    ArgParser a({"--timeout"}, {"--no-qr"});
    if (auto st = a.parse(args); !st || !a.positional().empty()) {
        std::fputs(kPairUsage, stderr);
        return kExitUsage;
    }
    auto timeout = a.integer("--timeout", 1, 86400, 300);
    if (!timeout) {
        std::fprintf(stderr, "skgate-agent: pair: %s\n", timeout.error().message.c_str());
        return kExitUsage;
    }
    const int timeout_s = static_cast<int>(*timeout);
    AgentPaths paths = AgentPaths::from_environment();
    if (auto st = paths.ensure(); !st)
        return fail(st.error().message);
    auto listener = Listener::bind_unix(paths.pair_socket());
    if (!listener)
        return fail(listener.error().message);
    auto offer = make_pairing_offer("unix:" + paths.pair_socket());
    if (!offer)
        return fail(offer.error().message);
    std::string text = offer->uri.format();
    if (!a.flag("--no-qr")) {
        auto qr = terminal_qr(text);
        if (qr)
            std::printf("Scan this with the authenticator:\n\n%s\n", qr->c_str());
    }
    std::printf(
        "or give it this pairing URI:\n\n  %s\n\nWaiting for the authenticator "
        "(%d s)...\n",
        text.c_str(), timeout_s);
    std::fflush(stdout);

    auto fd = listener->accept(timeout_s * 1000);
    if (!fd)
        return fail(fd.error().code == ErrorCode::not_found ? "no authenticator answered in time"
                                                            : fd.error().message);
    auto transport = std::make_shared<SocketTransport>(*fd);
    SecondResponderGuard guard(*listener);
    auto responder = agent_pairing_exchange(transport, *offer, kPairingStepTimeoutMs);
    if (!responder)
        return fail(responder.error().message);
    const std::string& device_name = responder->device_name;
    const PairingKeys& keys = responder->keys;
    SecureChannel& channel = *responder->channel;

    std::printf(
        "\nAuthenticator '%s' answered.\nConfirmation code: %s\n"
        "Type the code the authenticator shows: ",
        device_name.c_str(), keys.code.c_str());
    std::fflush(stdout);
    std::string typed;
    if (!std::getline(std::cin, typed))
        typed.clear();
    while (!typed.empty() && (typed.back() == '\r' || typed.back() == ' '))
        typed.pop_back();
    if (!confirmation_code_matches(typed, keys.code)) {
        (void)send_verdict(channel, false, "the confirmation codes differ", paths);
        AuditEvent e;
        e.event = "agent-pair";
        e.decision = Decision::deny;
        e.reason = "confirmation code mismatch";
        e.message = "pairing with '" + device_name + "' refused: the confirmation codes differ";
        audit_record(e);
        return fail(
            "the codes differ: someone may be intercepting the pairing. Nothing was "
            "saved; run `skgate-agent pair` again.");
    }
    PairingRecord record;
    record.device_id = responder->device_id;
    record.device_name = device_name;
    record.secret = keys.secret;
    if (auto st = save_pairing(paths, record); !st) {
        (void)send_verdict(channel, false, "the agent could not save the pairing", paths);
        return fail(st.error().message);
    }
    if (auto st = send_verdict(channel, true, "", paths); !st)
        return fail("paired, but the authenticator did not get the answer: " + st.error().message +
                    "; pair again");
    AuditEvent e;
    e.event = "agent-pair";
    e.decision = Decision::allow;
    e.message = "paired with authenticator '" + device_name + "'";
    audit_record(e);
    std::printf("Paired with '%s'.\n", device_name.c_str());
    return kExitOk;
}

int cmd_unpair(const Args& args) {
    if (!args.empty()) {
        std::fputs(kUnpairUsage, stderr);
        return kExitUsage;
    }
    AgentPaths paths = AgentPaths::from_environment();
    if (unlink(paths.pairing().c_str()) != 0) {
        std::printf("Not paired.\n");
        return kExitOk;
    }
    std::printf(
        "Unpaired: the authenticator can no longer connect. Its keys stay on it; pair "
        "it again to use them.\n");
    return kExitOk;
}

}  // namespace skgate::agent

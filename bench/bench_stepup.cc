// Step-up cost in the PAM module, agent round trip excluded (DESIGN.md
// section 12: <= 1 ms): core's decide_step_up, the function pam_skgate
// calls, whole (policy, account, enrolled keys, revocation list, counter
// lock, challenge, SSHSIG and flag checks, counter check-and-store with its
// fsync) against an in-process agent that signs at once with a software
// key; and, apart, its signature check and counter store. The baseline is
// one bare OpenSSL ECDSA P-256 verification in the same run.
//
// usage: bench_stepup [RUNS]
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/decide/stepup.h"
#include "core/decide/stepup_decision.h"
#include "core/ssh/ossl.h"
#include "core/store/counters.h"
#include "core/store/keystore.h"
#include "core/sys/args.h"
#include "core/sys/monotonic.h"
#include "tests/support/softkey.h"

namespace {

using skgate::bench::percentile;

template <class F>
std::vector<double> measure(int runs, F f) {
    std::vector<double> out;
    for (int i = 0; i < runs; i++) {
        uint64_t t0 = skgate::monotonic_us();
        f(i);
        out.push_back(static_cast<double>(skgate::monotonic_us() - t0) / 1000.0);
    }
    return out;
}

// The agent's side, without the socket: lists the key and signs whatever
// the step-up asks, with the counter one above the last.
class InProcessAgent final : public skgate::StepUpAgent {
  public:
    InProcessAgent(const skgate::test::SoftSkKey& key, uint32_t* counter)
        : key_(key), counter_(counter) {}
    skgate::Result<std::vector<skgate::AgentIdentity>> identities() override {
        return std::vector<skgate::AgentIdentity>{{key_.public_key(), "bench"}};
    }
    void describe(std::string_view) override {}
    skgate::Result<skgate::Bytes> sign(const skgate::PublicKey&, skgate::ByteView data) override {
        return key_.sign(data, 0x01, ++*counter_);
    }

  private:
    const skgate::test::SoftSkKey& key_;
    uint32_t* counter_;
};

}  // namespace

int main(int argc, char** argv) {
    using namespace skgate;
    auto runs_arg =
        argc > 1 ? parse_integer_in(argv[1], 1, 1'000'000) : std::optional<int64_t>(500);
    if (!runs_arg) {
        std::fprintf(stderr, "usage: bench_stepup [RUNS (1 to 1000000)]\n");
        return 2;
    }
    const int runs = static_cast<int>(*runs_arg);
    auto key = test::SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    const std::string dir = std::filesystem::current_path().string() + "/bench-stepup";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir + "/state");
    const std::string user = "root";
    const StoredKey enrolled{.key = key.public_key(), .name = "bench"};
    if (!KeyStore(dir + "/keys.d").add(user, enrolled))
        std::abort();
    auto policy = Policy::parse("KeysDirectory " + dir + "/keys.d\nRevokedKeys " + dir +
                                    "/revoked\nStateDirectory " + dir + "/state\n",
                                "bench");
    if (!policy)
        std::abort();
    uint32_t agent_counter = 0;
    StepUpRequest req;
    req.user = user;
    req.caller = 0;
    req.requester = user;
    req.service = "sudo";
    req.host = "host";
    req.command = "/usr/bin/id";
    req.connect_agent = [&](const Account&, uint64_t) -> Result<std::unique_ptr<StepUpAgent>> {
        return std::unique_ptr<StepUpAgent>(std::make_unique<InProcessAgent>(key, &agent_counter));
    };

    // Baseline: the one ECDSA verification no implementation can avoid.
    StepUpContext ctx{user, user, "host", "sudo", "/usr/bin/id", 1795000000};
    std::string challenge = *stepup_challenge(ctx);
    Bytes data = *stepup_signed_data(challenge);
    Bytes msg = sk_signed_message("ssh:", 1, 1, data);
    Bytes rs = key.sign_message(msg);
    auto pkey = *ossl::public_key(key.public_key());
    auto base = measure(runs, [&](int) {
        if (!*ossl::verify_ecdsa(pkey.get(), EVP_sha256(), ByteView(rs).first(32),
                                 ByteView(rs).subspan(32), msg))
            std::abort();
    });
    std::vector<Bytes> sigs;
    for (int i = 0; i < runs; i++)
        sigs.push_back(key.sign(data, 0x01, static_cast<uint32_t>(i + 1)));
    UserPolicy defaults;
    auto verify = measure(runs, [&](int i) {
        if (!verify_stepup(key.public_key(), sigs[static_cast<size_t>(i)], challenge, defaults))
            std::abort();
    });
    CounterStore counters(dir + "/counter-only");
    std::filesystem::create_directories(dir + "/counter-only");
    std::string fp = key.public_key().fingerprint();
    auto counter = measure(runs, [&](int i) {
        if (!counters.check_and_store(user, fp, static_cast<uint32_t>(i + 1)))
            std::abort();
    });
    // The sign in decide_step_up is the in-process agent's: subtract it so
    // the figure is the module's own work, as the budget counts it.
    Bytes sign_data = data;
    auto signing = measure(
        runs, [&](int i) { (void)key.sign(sign_data, 0x01, static_cast<uint32_t>(i + 1)); });
    auto whole = measure(runs, [&](int) {
        req.now = std::time(nullptr);
        req.start_us = monotonic_us();
        auto o = decide_step_up(*policy, req);
        if (o.result != StepUpResult::approved) {
            std::fprintf(stderr, "bench_stepup: %s\n", o.reason.c_str());
            std::abort();
        }
    });
    const double own = percentile(whole, 0.5) - percentile(signing, 0.5);
    std::printf("step-up, %d runs (agent round trip excluded)\n", runs);
    std::printf("  ECDSA verify (baseline)   p50 %.3f ms\n", percentile(base, 0.5));
    std::printf("  signature + flags         p50 %.3f ms\n", percentile(verify, 0.5));
    std::printf("  counter check-and-store   p50 %.3f ms  p99 %.3f ms (lock, write, fsync)\n",
                percentile(counter, 0.5), percentile(counter, 0.99));
    std::printf(
        "  decide_step_up, whole     p50 %.3f ms  p99 %.3f ms  (in-process agent's signing "
        "p50 %.3f ms taken out below)\n",
        percentile(whole, 0.5), percentile(whole, 0.99), percentile(signing, 0.5));
    std::printf(
        "  the module's own work     p50 %.3f ms  ratio to baseline %.2f   (budget: <= 1 ms)\n",
        own, own / percentile(base, 0.5));
    std::filesystem::remove_all(dir);
    return 0;
}

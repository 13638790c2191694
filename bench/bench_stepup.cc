// Step-up verification cost in the PAM module, agent round trip excluded
// (DESIGN.md section 12: <= 1 ms): verifying the SSHSIG'd challenge, its
// flags, and the counter check-and-store (lock, atomic write, fsync). The
// baseline is one bare OpenSSL ECDSA P-256 verification in the same run.
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
#include "core/ssh/ossl.h"
#include "core/store/counters.h"
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

}  // namespace

int main(int argc, char** argv) {
    int runs = argc > 1 ? std::atoi(argv[1]) : 500;
    using namespace skgate;
    auto key = test::SoftSkKey::generate(KeyAlgorithm::sk_ecdsa_p256);
    StepUpContext ctx{"root", "root", "host", "sudo", "/usr/bin/id", 1795000000};
    std::string challenge = *stepup_challenge(ctx);
    Bytes data = *stepup_signed_data(challenge);
    std::vector<Bytes> sigs;
    for (int i = 0; i < runs; i++)
        sigs.push_back(key.sign(data, 0x01, static_cast<uint32_t>(i + 1)));
    UserPolicy policy;
    std::string state = std::filesystem::current_path().string() + "/bench-stepup-state";
    std::filesystem::remove_all(state);
    std::filesystem::create_directories(state);
    CounterStore counters(state);
    std::string fp = key.public_key().fingerprint();

    // Baseline: the one ECDSA verification no implementation can avoid.
    Bytes msg = sk_signed_message("ssh:", 1, 1, data);
    Bytes rs = key.sign_message(msg);
    auto pkey = *ossl::public_key(key.public_key());
    auto base = measure(runs, [&](int) {
        if (!*ossl::verify_ecdsa(pkey.get(), EVP_sha256(), ByteView(rs).first(32),
                                 ByteView(rs).subspan(32), msg))
            std::abort();
    });
    auto verify = measure(runs, [&](int i) {
        if (!verify_stepup(key.public_key(), sigs[static_cast<size_t>(i)], challenge, policy))
            std::abort();
    });
    auto counter = measure(runs, [&](int i) {
        if (!counters.check_and_store("root", fp, static_cast<uint32_t>(i + 1)))
            std::abort();
    });
    std::vector<double> total;
    for (int i = 0; i < runs; i++)
        total.push_back(verify[static_cast<size_t>(i)] + counter[static_cast<size_t>(i)]);
    std::printf("step-up verification, %d runs (agent round trip excluded)\n", runs);
    std::printf("  ECDSA verify (baseline)   p50 %.3f ms\n", percentile(base, 0.5));
    std::printf("  signature + flags         p50 %.3f ms\n", percentile(verify, 0.5));
    std::printf("  counter check-and-store   p50 %.3f ms  p99 %.3f ms (lock, write, fsync)\n",
                percentile(counter, 0.5), percentile(counter, 0.99));
    std::printf(
        "  total                     p50 %.3f ms  p99 %.3f ms  ratio to baseline %.2f"
        "   (budget: <= 1 ms)\n",
        percentile(total, 0.5), percentile(total, 0.99),
        percentile(total, 0.5) / percentile(base, 0.5));
    std::filesystem::remove_all(state);
    return 0;
}

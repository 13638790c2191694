// Concurrency of skgate-agent (DESIGN.md section 12): 16 sign requests at
// once must finish in about the time of one, plus the authenticator's own
// time, not 16 times it. The real agent and authenticator run paired; the
// authenticator takes DELAY ms per approval, as a person would (each
// request's prompt runs in its own thread, as on a phone with notifications).
// Baseline: one request, measured in the same run.
//
// usage: bench_agent AGENT AUTHENTICATOR [ROUNDS] [DELAY_MS]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "bench/agent_timing.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/sshkey.h"
#include "core/ssh/sshsig.h"
#include "core/sys/monotonic.h"
#include "tests/support/client_rig.h"
#include "tests/support/helpers.h"

using namespace skgate;
using namespace skgate::test;
using skgate::bench::median;
using skgate::bench::sign_once;

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_agent AGENT AUTHENTICATOR [ROUNDS] [DELAY_MS]\n");
        return 2;
    }
    setenv("SKGATE_AGENT_BIN", argv[1], 1);
    setenv("SKGATE_AUTHENTICATOR_BIN", argv[2], 1);
    int rounds = argc > 3 ? std::atoi(argv[3]) : 10;
    std::string delay = argc > 4 ? argv[4] : "50";
    TempDir dir;
    ClientRig rig(dir.path());
    rig.init_authenticator();
    if (rig.pair().agent_status != 0) {
        std::fprintf(stderr, "bench_agent: pairing failed\n");
        return 1;
    }
    rig.start_agent();
    rig.start_authenticator("yes", {"--approve-delay-ms", delay});
    auto key = PublicKey::parse_text(read_file(rig.generate("bench")));
    auto data = sshsig_signed_data("bench", "sha512", as_bytes("benchmark message"));
    if (!key || !data)
        return 1;
    std::vector<double> one, sixteen;
    for (int r = 0; r < rounds; r++) {
        uint64_t t0 = monotonic_us();
        if (!sign_once(rig.agent_socket(), *key, *data))
            return 1;
        one.push_back(double(monotonic_us() - t0) / 1000.0);
        std::vector<std::thread> threads;
        std::atomic<int> ok{0};
        t0 = monotonic_us();
        for (int i = 0; i < 16; i++)
            threads.emplace_back([&] {
                if (sign_once(rig.agent_socket(), *key, *data))
                    ok++;
            });
        for (auto& t : threads)
            t.join();
        sixteen.push_back(double(monotonic_us() - t0) / 1000.0);
        if (ok.load() != 16) {
            std::fprintf(stderr, "bench_agent: only %d of 16 requests succeeded\n", ok.load());
            return 1;
        }
    }
    double m1 = median(one), m16 = median(sixteen);
    std::printf("bench_agent: %d rounds, authenticator approval delay %s ms\n", rounds,
                delay.c_str());
    std::printf("  1 request:              median %8.1f ms\n", m1);
    std::printf("  16 concurrent requests: median %8.1f ms (all of them)\n", m16);
    std::printf("  ratio 16/1: %.2f  (serial would be 16.0; budget: about 1)\n", m16 / m1);
    return 0;
}

// The agent–authenticator link's cost (DESIGN.md section 12): one login
// approval round trip (ssh-agent request → agent → authenticator, which
// approves at once → signature back) over the local Unix link socket, the
// baseline, and over TCP on loopback (run --listen, what an authenticator on
// another machine of the same network uses); and 16 concurrent requests
// over TCP against one, with an authenticator that takes 50 ms per approval
// as a person's phone would (at once, 16 requests measure only the
// authenticator's own serial work: its counter writes). The real agent and authenticator, paired
// the way a person pairs them, measured in the same run.
//
// usage: bench_link AGENT AUTHENTICATOR [ROUNDS]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
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

namespace {

struct Setup {
    TempDir dir;
    ClientRig rig{dir.path()};
    std::optional<PublicKey> key;
};

// A paired agent and authenticator; over TCP on loopback when `tcp`.
bool start(Setup& s, bool tcp, const std::string& delay_ms) {
    s.rig.init_authenticator();
    std::vector<std::string> pair_args, run_args;
    if (tcp) {
        std::string pair = "tcp:127.0.0.1:" + std::to_string(free_port());
        std::string link = "tcp:127.0.0.1:" + std::to_string(free_port());
        pair_args = {"--address", pair, "--link", link};
        run_args = {"--listen", link};
    }
    if (s.rig.pair("", pair_args).agent_status != 0)
        return false;
    s.rig.start_agent(run_args);
    s.rig.start_authenticator("yes", {"--approve-delay-ms", delay_ms});
    auto key = PublicKey::parse_text(read_file(s.rig.generate("bench")));
    if (!key)
        return false;
    s.key = *key;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_link AGENT AUTHENTICATOR [ROUNDS]\n");
        return 2;
    }
    setenv("SKGATE_AGENT_BIN", argv[1], 1);
    setenv("SKGATE_AUTHENTICATOR_BIN", argv[2], 1);
    int rounds = argc > 3 ? std::atoi(argv[3]) : 200;
    Setup unix_link, tcp_link, tcp_person;
    if (!start(unix_link, false, "0") || !start(tcp_link, true, "0") ||
        !start(tcp_person, true, "50")) {
        std::fprintf(stderr, "bench_link: pairing or key generation failed\n");
        return 1;
    }
    auto data = sshsig_signed_data("bench", "sha512", as_bytes("benchmark message"));
    if (!data)
        return 1;
    std::vector<double> over_unix, over_tcp, one_person, sixteen;
    for (int r = 0; r < rounds; r++) {
        // Alternated, so that a busy moment of the machine hits both.
        for (auto [s, out] : {std::pair{&unix_link, &over_unix}, std::pair{&tcp_link, &over_tcp}}) {
            uint64_t t0 = monotonic_us();
            if (!sign_once(s->rig.agent_socket(), *s->key, *data))
                return 1;
            out->push_back(double(monotonic_us() - t0) / 1000.0);
        }
        if (r % 10 != 0)
            continue;
        uint64_t t0 = monotonic_us();
        if (!sign_once(tcp_person.rig.agent_socket(), *tcp_person.key, *data))
            return 1;
        one_person.push_back(double(monotonic_us() - t0) / 1000.0);
        std::vector<std::thread> threads;
        std::atomic<int> ok{0};
        t0 = monotonic_us();
        for (int i = 0; i < 16; i++)
            threads.emplace_back([&] {
                if (sign_once(tcp_person.rig.agent_socket(), *tcp_person.key, *data))
                    ok++;
            });
        for (auto& t : threads)
            t.join();
        sixteen.push_back(double(monotonic_us() - t0) / 1000.0);
        if (ok.load() != 16) {
            std::fprintf(stderr, "bench_link: only %d of 16 requests succeeded\n", ok.load());
            return 1;
        }
    }
    double mu = median(over_unix), mt = median(over_tcp), m1 = median(one_person),
           m16 = median(sixteen);
    std::printf("bench_link: %d rounds, the authenticator approving at once\n", rounds);
    std::printf("  one approval over the Unix link socket: median %7.2f ms (baseline)\n", mu);
    std::printf("  one approval over TCP on loopback:      median %7.2f ms, ratio %.2f, +%.2f ms\n",
                mt, mt / mu, mt - mu);
    std::printf("  with a 50 ms approval, one over TCP:    median %7.2f ms\n", m1);
    std::printf("  16 concurrent over TCP:                 median %7.2f ms, ratio to one %.2f\n",
                m16, m16 / m1);
    std::printf("  budgets: 16 concurrent at most 2x one (DESIGN.md section 12)\n");
    return 0;
}

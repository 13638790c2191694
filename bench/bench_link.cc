// The agent–authenticator link's cost (DESIGN.md section 12): one login
// approval round trip (ssh-agent request → agent → authenticator, which
// approves at once → signature back) over the local Unix link socket, the
// baseline, and over TCP on loopback (run --listen, what an authenticator on
// another machine of the same network uses), and through a real mosquitto
// on loopback (TLS, a login: pair --broker); and 16 concurrent requests
// over TCP and through the broker against one, with an authenticator that
// takes 50 ms per approval
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
#include "core/link/broker.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/sshkey.h"
#include "core/ssh/sshsig.h"
#include "core/sys/monotonic.h"
#include "tests/support/client_rig.h"
#include "tests/support/helpers.h"
#include "tests/support/mqtt_broker.h"

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

enum class Link { unix_socket, tcp, broker };

// A paired agent and authenticator over `link` (TCP and the broker on
// loopback).
bool start(Setup& s, Link link_kind, const std::string& delay_ms,
           const MqttBroker* broker = nullptr) {
    s.rig.init_authenticator();
    std::vector<std::string> pair_args, run_args;
    if (link_kind == Link::broker) {
        broker->write_settings(s.rig.agent_dir());
        broker->write_settings(s.rig.authenticator_dir());
        pair_args = {"--broker", broker->address()};
    } else if (link_kind == Link::tcp) {
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
    if (!broker_supported()) {
        std::fprintf(stderr, "bench_link: this build has no broker transport (-Dbroker)\n");
        return 1;
    }
    TempDir broker_dir;
    MqttBroker broker(broker_dir.file("mosquitto"), MqttBroker::Options{});
    Setup unix_link, tcp_link, tcp_person, broker_link, broker_person;
    if (!start(unix_link, Link::unix_socket, "0") || !start(tcp_link, Link::tcp, "0") ||
        !start(tcp_person, Link::tcp, "50") || !start(broker_link, Link::broker, "0", &broker) ||
        !start(broker_person, Link::broker, "50", &broker)) {
        std::fprintf(stderr, "bench_link: pairing or key generation failed\n");
        return 1;
    }
    auto data = sshsig_signed_data("bench", "sha512", as_bytes("benchmark message"));
    if (!data)
        return 1;
    auto sixteen_at_once = [&](Setup& s) -> std::optional<double> {
        std::vector<std::thread> threads;
        std::atomic<int> ok{0};
        uint64_t t0 = monotonic_us();
        for (int i = 0; i < 16; i++)
            threads.emplace_back([&] {
                if (sign_once(s.rig.agent_socket(), *s.key, *data))
                    ok++;
            });
        for (auto& t : threads)
            t.join();
        if (ok.load() != 16) {
            std::fprintf(stderr, "bench_link: only %d of 16 requests succeeded\n", ok.load());
            return std::nullopt;
        }
        return double(monotonic_us() - t0) / 1000.0;
    };
    auto one = [&](Setup& s, std::vector<double>& out) {
        uint64_t t0 = monotonic_us();
        if (!sign_once(s.rig.agent_socket(), *s.key, *data))
            return false;
        out.push_back(double(monotonic_us() - t0) / 1000.0);
        return true;
    };
    std::vector<double> over_unix, over_tcp, over_broker, one_person, sixteen, one_broker_person,
        sixteen_broker;
    for (int r = 0; r < rounds; r++) {
        // Alternated, so that a busy moment of the machine hits each.
        if (!one(unix_link, over_unix) || !one(tcp_link, over_tcp) ||
            !one(broker_link, over_broker))
            return 1;
        if (r % 10 != 0)
            continue;
        if (!one(tcp_person, one_person) || !one(broker_person, one_broker_person))
            return 1;
        auto t16 = sixteen_at_once(tcp_person);
        auto b16 = sixteen_at_once(broker_person);
        if (!t16 || !b16)
            return 1;
        sixteen.push_back(*t16);
        sixteen_broker.push_back(*b16);
    }
    double mu = median(over_unix), mt = median(over_tcp), mb = median(over_broker),
           m1 = median(one_person), m16 = median(sixteen), b1 = median(one_broker_person),
           b16 = median(sixteen_broker);
    std::printf("bench_link: %d rounds, the authenticator approving at once\n", rounds);
    std::printf("  one approval over the Unix link socket: median %7.2f ms (baseline)\n", mu);
    std::printf("  one approval over TCP on loopback:      median %7.2f ms, ratio %.2f, +%.2f ms\n",
                mt, mt / mu, mt - mu);
    std::printf("  one approval through the broker:        median %7.2f ms, ratio %.2f, +%.2f ms\n",
                mb, mb / mu, mb - mu);
    std::printf("  with a 50 ms approval, one over TCP:    median %7.2f ms\n", m1);
    std::printf("  16 concurrent over TCP:                 median %7.2f ms, ratio to one %.2f\n",
                m16, m16 / m1);
    std::printf("  with a 50 ms approval, one via broker:  median %7.2f ms\n", b1);
    std::printf("  16 concurrent through the broker:       median %7.2f ms, ratio to one %.2f\n",
                b16, b16 / b1);
    std::printf(
        "  budgets: the broker at most +10 ms per approval; 16 concurrent at most 2x one "
        "(DESIGN.md section 12)\n");
    return 0;
}

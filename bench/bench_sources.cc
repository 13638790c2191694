// skgate-keys with a remote source (DESIGN.md sections 9 and 12): the same
// sshd-style lookup answered from the local store (the baseline), from a
// fresh cache of the metadata source (no network), and from a live loopback
// metadata server (tests/servers/keyserver.py: token, then keys, through
// skgate-fetch) with SourceCacheTTL 0. Interleaved runs; prints p50/p99 and
// the ratios to the local-store lookup.
//
// Then the outages, each served from the cache the live runs filled: a
// server that refuses connections (asked every run, and held off after a
// failure as skgate-keys does for 15 s), and one that never answers, which
// costs the lookup its SourceTimeout (1 s here) and no more.
//
// usage: bench_sources SKGATE_KEYS SKGATE_FETCH KEYSERVER_PY [RUNS]
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "core/sys/monotonic.h"
#include "tests/support/helpers.h"
#include "tests/support/softkey.h"

namespace {

using skgate::bench::percentile;
using skgate::bench::run_once;
using skgate::bench::spawn;

void copy_exe(const std::string& from, const std::string& to) {
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
    chmod(to.c_str(), 0755);
}

// Starts keyserver.py on `state`, and returns its pid and port.
std::pair<pid_t, std::string> start_server(const std::string& server, const std::string& dir,
                                           const std::string& name) {
    std::string portfile = dir + "/" + name + ".port";
    pid_t pid =
        spawn({"python3", server, dir + "/" + name + ".json", dir + "/" + name + ".log", portfile},
              false);
    for (int i = 0; i < 200 && !std::filesystem::exists(portfile); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::string port;
    std::ifstream(portfile) >> port;
    if (port.empty()) {
        std::fprintf(stderr, "the key server did not start\n");
        kill(pid, SIGTERM);
        std::exit(1);
    }
    return {pid, port};
}

void stop_server(pid_t pid) {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
}

size_t count_lines(const std::string& file, const std::string& prefix) {
    size_t n = 0;
    std::ifstream log(file);
    std::string line;
    while (std::getline(log, line))
        n += line.rfind(prefix, 0) == 0;
    return n;
}

// Whether the lookup printed the key: an outage row is only worth its
// figure if the cache really served.
bool prints_key(const std::vector<std::string>& argv, const std::string& blob) {
    auto r = skgate::test::run(argv);
    return r.status == 0 && r.out.find(blob) != std::string::npos;
}

void print_row(const char* name, const std::vector<double>& v, double baseline) {
    std::printf("  %-26s p50 %8.3f ms  p99 %8.3f ms  ratio p50 %7.2f\n", name, percentile(v, 0.5),
                percentile(v, 0.99), percentile(v, 0.5) / baseline);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: bench_sources SKGATE_KEYS SKGATE_FETCH KEYSERVER_PY [RUNS]\n");
        return 2;
    }
    int runs = argc > 4 ? std::atoi(argv[4]) : 300;
    std::string dir = std::filesystem::current_path().string() + "/bench-sources";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir + "/keys.d");
    std::filesystem::create_directories(dir + "/libexec");
    for (const char* state : {"state", "state-down", "state-slow"}) {
        std::filesystem::create_directories(dir + "/" + state + "/sources");
        chmod((dir + "/" + state + "/sources").c_str(), 0700);
    }
    chmod(dir.c_str(), 0755);
    // skgate-keys runs the skgate-fetch beside it.
    copy_exe(argv[1], dir + "/libexec/skgate-keys");
    copy_exe(argv[2], dir + "/libexec/skgate-fetch");

    auto key = skgate::test::SoftSkKey::generate(skgate::KeyAlgorithm::sk_ecdsa_p256);
    std::string text = key.public_key().to_text();
    const std::string users = "{\"users\": {\"root\": [\"" + text + " bench\"]}}\n";
    std::ofstream(dir + "/keys.d/root")
        << "enrolled=\"2026-01-01T00:00:00Z\" " << text << " bench\n";
    std::ofstream(dir + "/live.json") << users;
    std::ofstream(dir + "/slow.json") << "{\"mode\": \"slow\", \"delay\": 30, " << users.substr(1);
    auto [live_server, live_port] = start_server(argv[3], dir, "live");
    auto [slow_server, slow_port] = start_server(argv[3], dir, "slow");

    auto conf = [&](const std::string& name, const std::string& state, const std::string& port,
                    const std::string& extra) {
        std::ofstream(dir + "/" + name)
            << extra << "KeysDirectory " << dir << "/keys.d\nRevokedKeys " << dir
            << "/revoked\nStateDirectory " << dir << "/" << state
            << "\nMetadataURL http://127.0.0.1:" << port << "\n";
        return dir + "/" + name;
    };
    std::string blob = text.substr(text.find(' ') + 1);
    auto lookup = [&](const std::string& config) {
        return std::vector<std::string>{
            dir + "/libexec/skgate-keys",  "-f", config, "root", key.public_key().type_name(), blob,
            key.public_key().fingerprint()};
    };
    const std::string ask = "KeySources metadata\nSourceCacheTTL 0\n";
    auto local = lookup(conf("local.conf", "state", live_port, "KeySources local\n"));
    auto warm = lookup(conf("warm.conf", "state", live_port, "KeySources metadata\n"));
    auto live = lookup(conf("live.conf", "state", live_port, ask));
    auto down =
        lookup(conf("down.conf", "state-down", std::to_string(skgate::test::free_port()), ask));
    auto slow = lookup(conf("slow.conf", "state-slow", slow_port, ask + "SourceTimeout 1s\n"));
    // The outages' caches: one good answer each, from the live server.
    run_once(lookup(conf("seed-down.conf", "state-down", live_port, ask)));
    run_once(lookup(conf("seed-slow.conf", "state-slow", live_port, ask)));
    auto forget_failure = [&](const std::string& state) {
        std::filesystem::remove(dir + "/" + state + "/sources/metadata/.unreachable");
    };

    for (int i = 0; i < 20; i++) {  // warm up, and fill the cache
        run_once(local);
        run_once(live);
        run_once(warm);
    }
    std::vector<double> l, w, n, d, h;
    for (int i = 0; i < runs; i++) {
        l.push_back(run_once(local));
        w.push_back(run_once(warm));
        n.push_back(run_once(live));
        forget_failure("state-down");
        d.push_back(run_once(down));
        h.push_back(run_once(down));  // within 15 s of the failure just noted
    }
    forget_failure("state-down");
    forget_failure("state-slow");
    bool served = prints_key(down, blob) && prints_key(down, blob) && prints_key(slow, blob);
    const int slow_runs = 5;
    std::vector<double> t;
    for (int i = 0; i < slow_runs; i++) {
        forget_failure("state-slow");
        t.push_back(run_once(slow));
    }
    stop_server(live_server);
    stop_server(slow_server);
    size_t fetched = count_lines(dir + "/live.log", "GET /v1/ssh-keys 200");
    double base = percentile(l, 0.5);
    std::printf("skgate-keys with the metadata source, %d runs each (%d for the slow server)\n",
                runs, slow_runs);
    print_row("local store", l, base);
    print_row("metadata, cached", w, base);
    print_row("metadata, live", n, base);
    std::printf("    (%zu fetches, token + keys each)\n", fetched);
    print_row("outage: refused, asked", d, base);
    print_row("outage: refused, held off", h, base);
    print_row("outage: no answer (1 s)", t, base);
    std::printf("    (max %.3f ms; the outages %s the cached key)\n",
                *std::max_element(t.begin(), t.end()), served ? "served" : "did NOT serve");
    std::printf("  budget: cached p50 <= 2 ms (no network when caches are fresh)\n");
    std::filesystem::remove_all(dir);
    return served ? 0 : 1;
}

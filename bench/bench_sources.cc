// skgate-keys with a remote source (DESIGN.md sections 9 and 12): the same
// sshd-style lookup answered from the local store (the baseline), from a
// fresh cache of the metadata source (no network), and from a live loopback
// metadata server (tests/servers/keyserver.py: token, then keys, through
// skgate-fetch) with SourceCacheTTL 0. Interleaved runs; prints p50/p99 and
// the ratios to the local-store lookup.
//
// usage: bench_sources SKGATE_KEYS SKGATE_FETCH KEYSERVER_PY [RUNS]
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "core/monotonic.h"
#include "tests/support/softkey.h"

namespace {

using skgate::bench::percentile;
using skgate::bench::run_once;
using skgate::bench::spawn;

void copy_exe(const std::string& from, const std::string& to) {
    std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
    chmod(to.c_str(), 0755);
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
    std::filesystem::create_directories(dir + "/state/sources");
    chmod(dir.c_str(), 0755);
    chmod((dir + "/state/sources").c_str(), 0700);
    // skgate-keys runs the skgate-fetch beside it.
    copy_exe(argv[1], dir + "/libexec/skgate-keys");
    copy_exe(argv[2], dir + "/libexec/skgate-fetch");

    auto key = skgate::test::SoftSkKey::generate(skgate::KeyAlgorithm::sk_ecdsa_p256);
    std::string text = key.public_key().to_text();
    {
        std::ofstream f(dir + "/keys.d/root");
        f << "enrolled=\"2026-01-01T00:00:00Z\" " << text << " bench\n";
        std::ofstream s(dir + "/state.json");
        s << "{\"users\": {\"root\": [\"" << text << " bench\"]}}\n";
    }
    pid_t server = spawn(
        {"python3", argv[3], dir + "/state.json", dir + "/requests.log", dir + "/port"}, false);
    for (int i = 0; i < 200 && !std::filesystem::exists(dir + "/port"); i++)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    std::string port;
    std::ifstream(dir + "/port") >> port;
    if (port.empty()) {
        std::fprintf(stderr, "the key server did not start\n");
        kill(server, SIGTERM);
        return 1;
    }

    const std::string common = "KeysDirectory " + dir + "/keys.d\nRevokedKeys " + dir +
                               "/revoked\nStateDirectory " + dir +
                               "/state\nMetadataURL http://127.0.0.1:" + port + "\n";
    auto conf = [&](const std::string& name, const std::string& extra) {
        std::ofstream(dir + "/" + name) << extra << common;
        return dir + "/" + name;
    };
    std::string blob = text.substr(text.find(' ') + 1);
    auto lookup = [&](const std::string& config) {
        return std::vector<std::string>{
            dir + "/libexec/skgate-keys",  "-f", config, "root", key.public_key().type_name(), blob,
            key.public_key().fingerprint()};
    };
    auto local = lookup(conf("local.conf", "KeySources local\n"));
    auto warm = lookup(conf("warm.conf", "KeySources metadata\nSourceCacheTTL 1d\n"));
    auto live = lookup(conf("live.conf", "KeySources metadata\nSourceCacheTTL 0\n"));

    for (int i = 0; i < 20; i++) {  // warm up, and fill the cache
        run_once(local);
        run_once(live);
        run_once(warm);
    }
    std::vector<double> l, w, n;
    for (int i = 0; i < runs; i++) {
        l.push_back(run_once(local));
        w.push_back(run_once(warm));
        n.push_back(run_once(live));
    }
    kill(server, SIGTERM);
    waitpid(server, nullptr, 0);
    size_t fetched = 0;
    {
        std::ifstream log(dir + "/requests.log");
        std::string line;
        while (std::getline(log, line))
            fetched += line.rfind("GET /v1/ssh-keys 200", 0) == 0;
    }
    std::printf("skgate-keys with the metadata source, %d runs each\n", runs);
    std::printf("  local store        p50 %.3f ms  p99 %.3f ms\n", percentile(l, 0.5),
                percentile(l, 0.99));
    std::printf("  metadata, cached   p50 %.3f ms  p99 %.3f ms  ratio p50 %.2f\n",
                percentile(w, 0.5), percentile(w, 0.99), percentile(w, 0.5) / percentile(l, 0.5));
    std::printf(
        "  metadata, live     p50 %.3f ms  p99 %.3f ms  ratio p50 %.2f"
        "  (%zu fetches, token + keys each)\n",
        percentile(n, 0.5), percentile(n, 0.99), percentile(n, 0.5) / percentile(l, 0.5), fetched);
    std::printf("  budget: cached p50 <= 2 ms (no network when caches are fresh)\n");
    std::filesystem::remove_all(dir);
    return 0;
}

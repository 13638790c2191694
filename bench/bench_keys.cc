// skgate-keys latency (DESIGN.md section 12): one sshd-style invocation
// (user, key type, key blob, fingerprint) against a local store of 10,000
// users with 5 keys each, compared with starting a trivial C++ binary in the
// same run. Prints p50/p99 of both and their ratio; budget: p50 <= 2 ms and
// ratio <= 1.5. Then the same lookup with 100,000 revoked keys (the list
// and its KRL index, as skgatectl revoke writes them) against an empty list:
// budget: ratio <= 1.2.
//
// usage: bench_keys SKGATE_KEYS TRIVIAL [RUNS]
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "core/store/revocation.h"
#include "core/sys/base64.h"
#include "core/sys/monotonic.h"
#include "core/sys/sha256.h"
#include "tests/support/softkey.h"

namespace {

constexpr int kUsers = 10000;
constexpr int kKeysPerUser = 5;

using skgate::bench::percentile;
using skgate::bench::run_once;

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: bench_keys SKGATE_KEYS TRIVIAL [RUNS]\n");
        return 2;
    }
    std::string helper = argv[1], trivial = argv[2];
    int runs = argc > 3 ? std::atoi(argv[3]) : 400;

    // A store under the build tree: root-owned, not writable by others.
    std::string dir = std::filesystem::current_path().string() + "/bench-keys-store";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir + "/keys.d");
    chmod(dir.c_str(), 0755);
    std::vector<skgate::test::SoftSkKey> pool;
    for (int i = 0; i < 50; i++)
        pool.push_back(skgate::test::SoftSkKey::generate(
            i % 2 ? skgate::KeyAlgorithm::sk_ed25519 : skgate::KeyAlgorithm::sk_ecdsa_p256));
    auto write_user = [&](const std::string& user, int seed) {
        std::ofstream f(dir + "/keys.d/" + user);
        for (int k = 0; k < kKeysPerUser; k++) {
            const auto& key = pool[static_cast<size_t>(seed + k) % pool.size()];
            f << "enrolled=\"2026-01-01T00:00:00Z\",name=\"key" << k << "\" "
              << key.public_key().to_text() << " " << user << "@host" << k << "\n";
        }
    };
    for (int u = 0; u < kUsers - 1; u++)
        write_user("user" + std::to_string(u), u);
    write_user("root", 7);  // the user looked up must exist
    {
        std::ofstream c(dir + "/skgate.conf");
        c << "KeysDirectory " << dir << "/keys.d\nRevokedKeys " << dir << "/revoked\n"
          << "StateDirectory " << dir << "/state\nMatch Group nosuchgroup\n  VerifyRequired yes\n";
        std::ofstream r(dir + "/revoked");
        r << pool[49].public_key().to_text() << "\n";
    }
    const auto& offered = pool[(7 + 4) % pool.size()].public_key();
    std::string text = offered.to_text();
    std::string blob = text.substr(text.find(' ') + 1);
    std::vector<std::string> helper_argv{helper,
                                         "-f",
                                         dir + "/skgate.conf",
                                         "root",
                                         offered.type_name(),
                                         blob,
                                         offered.fingerprint()};
    std::vector<std::string> trivial_argv{trivial};

    for (int i = 0; i < 20; i++) {  // warm the page cache
        run_once(helper_argv);
        run_once(trivial_argv);
    }
    std::vector<double> h, t;
    for (int i = 0; i < runs; i++) {  // interleaved, so both see the same load
        h.push_back(run_once(helper_argv));
        t.push_back(run_once(trivial_argv));
    }
    double hp50 = percentile(h, 0.5), hp99 = percentile(h, 0.99);
    double tp50 = percentile(t, 0.5), tp99 = percentile(t, 0.99);
    std::printf("skgate-keys lookup, %d users x %d keys, %d runs\n", kUsers, kKeysPerUser, runs);
    std::printf("  skgate-keys    p50 %.3f ms  p99 %.3f ms\n", hp50, hp99);
    std::printf("  trivial C++    p50 %.3f ms  p99 %.3f ms\n", tp50, tp99);
    std::printf("  ratio          p50 %.2f     p99 %.2f   (budget: p50 <= 2 ms, ratio <= 1.5)\n",
                hp50 / tp50, hp99 / tp99);

    // Revocations: an empty list against 100,000 revoked keys, interleaved.
    auto config_with = [&](const std::string& name, size_t revoked) {
        std::string list = dir + "/" + name;
        std::string lines;
        for (size_t i = 0; i < revoked; i++) {
            std::string seed = "revoked key " + std::to_string(i);
            skgate::Sha256 digest = skgate::sha256(skgate::as_bytes(seed));
            std::string b64 = skgate::base64_encode(skgate::ByteView(digest.data(), digest.size()));
            lines += "SHA256:" + b64.substr(0, b64.find('=')) + "\n";
        }
        std::ofstream(list) << lines;
        if (auto st = skgate::RevocationList::rebuild_index(list); !st) {
            std::fprintf(stderr, "bench_keys: %s\n", st.error().message.c_str());
            std::exit(1);
        }
        std::string conf = dir + "/" + name + ".conf";
        std::ofstream(conf) << "KeysDirectory " << dir << "/keys.d\nRevokedKeys " << list
                            << "\nStateDirectory " << dir << "/state\n";
        std::vector<std::string> with = helper_argv;
        with[2] = conf;
        return with;
    };
    constexpr size_t kRevoked = 100000;
    auto empty_argv = config_with("revoked-none", 0);
    auto full_argv = config_with("revoked-many", kRevoked);
    for (int i = 0; i < 20; i++) {
        run_once(empty_argv);
        run_once(full_argv);
    }
    std::vector<double> e, f;
    for (int i = 0; i < runs; i++) {
        e.push_back(run_once(empty_argv));
        f.push_back(run_once(full_argv));
    }
    double ep50 = percentile(e, 0.5), fp50 = percentile(f, 0.5);
    std::printf("\nskgate-keys lookup with %zu revoked keys (list and KRL index), %d runs\n",
                kRevoked, runs);
    std::printf("  none revoked   p50 %.3f ms  p99 %.3f ms\n", ep50, percentile(e, 0.99));
    std::printf("  %zu revoked p50 %.3f ms  p99 %.3f ms\n", kRevoked, fp50, percentile(f, 0.99));
    std::printf("  ratio          p50 %.2f   (budget: ratio <= 1.2)\n", fp50 / ep50);
    std::filesystem::remove_all(dir);
    return 0;
}

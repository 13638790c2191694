#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "authenticator/approver.h"
#include "authenticator/authenticator.h"
#include "authenticator/commands.h"
#include "authenticator/vault.h"
#include "core/link/broker_settings.h"
#include "core/link/channel.h"
#include "core/link/channel_crypto.h"
#include "core/link/pairing.h"
#include "core/link/pairing_handshake.h"
#include "core/sys/args.h"
#include "core/sys/atomicfile.h"
#include "core/sys/timeutil.h"

namespace skgate::authenticator {

namespace {

const std::set<std::string> kCommonOptions = {"--dir", "--passphrase-file"};

constexpr int kFirstRetryMs = 200;
constexpr int kMaxRetryMs = 10'000;

int fail(const std::string& what) {
    std::fprintf(stderr, "skgate-authenticator: %s\n", what.c_str());
    return kExitFailure;
}

int usage(const std::string& what) {
    std::fprintf(stderr, "skgate-authenticator: %s (see skgate-authenticator(1))\n", what.c_str());
    return kExitUsage;
}

std::set<std::string> with_common(std::set<std::string> more) {
    more.insert(kCommonOptions.begin(), kCommonOptions.end());
    return more;
}

std::string state_dir(const ArgParser& a) {
    if (auto d = a.value("--dir"))
        return *d;
    if (const char* env = std::getenv("SKGATE_AUTHENTICATOR_DIR"); env && *env)
        return env;
    const char* home = std::getenv("HOME");
    return std::string(home && *home ? home : ".") + "/.skgate-authenticator";
}

Result<std::string> passphrase(const ArgParser& a, const std::string& prompt) {
    if (auto f = a.value("--passphrase-file"))
        return read_secret_file(*f);
    return read_secret(prompt);
}

Result<Vault> open_vault(const ArgParser& a) {
    std::string dir = state_dir(a);
    SKGATE_TRY(pass, passphrase(a, "Authenticator passphrase: "));
    return Vault::open(dir + "/vault", pass);
}

// How to log in to the broker of an mqtts: address (<dir>/broker.conf;
// none needed for other addresses).
Result<BrokerSettings> broker_settings(const ArgParser& a, std::string_view address) {
    if (!is_broker_address(address))
        return BrokerSettings{};
    return BrokerSettings::load(state_dir(a) + "/broker.conf");
}

}  // namespace

int cmd_init(const Args& args) {
    ArgParser a(with_common({}), {});
    if (auto st = a.parse(args); !st)
        return usage(st.error().message);
    std::string dir = state_dir(a);
    if (auto st = ensure_directory(dir, FileOwner::self(0700)); !st)
        return fail(st.error().message);
    std::string pass;
    if (a.value("--passphrase-file")) {
        auto p = passphrase(a, "");
        if (!p)
            return fail(p.error().message);
        pass = *p;
    } else {
        auto p1 = read_secret("New passphrase (also your PIN): ");
        auto p2 = read_secret("Repeat it: ");
        if (!p1 || !p2)
            return fail("no passphrase given");
        if (*p1 != *p2)
            return fail("the passphrases differ");
        pass = *p1;
    }
    auto v = Vault::create(dir + "/vault", pass);
    if (!v)
        return fail(v.error().message);
    std::printf("Initialised the authenticator in %s (keys are encrypted with your passphrase).\n",
                dir.c_str());
    return kExitOk;
}

int cmd_pair(const Args& args) {
    ArgParser a(with_common({"--name"}), {});
    if (auto st = a.parse(args); !st)
        return usage(st.error().message);
    if (a.positional().size() != 1)
        return usage("pair takes the skgate-pair: URI shown by `skgate-agent pair`");
    auto uri = PairingUri::parse(a.positional()[0]);
    if (!uri)
        return fail(uri.error().message);
    auto vault = open_vault(a);
    if (!vault)
        return fail(vault.error().message);
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::string name = a.value("--name").value_or(std::string(host) + " authenticator");
    if (name.size() > kMaxDeviceName)
        return usage("--name is longer than " + std::to_string(kMaxDeviceName) + " characters");

    auto broker = broker_settings(a, uri->address);
    if (!broker)
        return fail(broker.error().message);
    auto transport = connect_channel(uri->address, kLinkConnectTimeoutMs, &*broker);
    if (!transport)
        return fail("cannot reach the agent: " + transport.error().message);
    std::shared_ptr<Transport> t(std::move(*transport));
    auto answer = authenticator_pairing_answer(t, *uri, name, kPairingStepTimeoutMs);
    if (!answer)
        return fail(answer.error().message);
    std::printf(
        "Confirmation code: %s\nCheck that skgate-agent shows the same code and type it "
        "there.\n",
        answer->keys.code.c_str());
    std::fflush(stdout);
    auto record = authenticator_pairing_verdict(*answer, kPairingVerdictTimeoutMs);
    if (!record)
        return fail(record.error().message);
    const std::string agent_name = record->device_name;
    Status saved = vault->update([&](VaultContents& v) -> Status {
        v.pairing = std::move(*record);
        return {};
    });
    if (!saved)
        return fail("cannot save the pairing: " + saved.error().message);
    std::printf("Paired with %s.\n", agent_name.c_str());
    return kExitOk;
}

int cmd_run(const Args& args) {
    ArgParser a(with_common({"--approve", "--approve-delay-ms", "--pin-file", "--prompt-timeout",
                             "--any-host-max"}),
                {"--once"});
    if (auto st = a.parse(args); !st)
        return usage(st.error().message);
    if (!a.positional().empty())
        return usage("run takes no arguments");
    std::string mode = a.value("--approve").value_or("ask");
    auto delay = a.integer("--approve-delay-ms", 0, 600000, 0);
    if (!delay)
        return usage(delay.error().message);
    auto prompt_timeout = a.integer("--prompt-timeout", 1, 86400, 60);
    if (!prompt_timeout)
        return usage(prompt_timeout.error().message);
    auto any_host_max = a.integer("--any-host-max", 0, 24 * 60, 0);
    if (!any_host_max)
        return usage(any_host_max.error().message);
    std::optional<std::string> pin;
    if (auto f = a.value("--pin-file")) {
        auto p = read_secret_file(*f);
        if (!p)
            return fail(p.error().message);
        pin = *p;
    }
    std::unique_ptr<Approver> approver;
    if (mode == "ask") {
        approver = std::make_unique<TerminalApprover>(static_cast<int>(*prompt_timeout));
    } else {
        auto s = ScriptedApprover::from_options(mode, static_cast<int>(*delay), pin,
                                                static_cast<int>(*prompt_timeout));
        if (!s)
            return usage(s.error().message);
        approver = std::make_unique<ScriptedApprover>(std::move(*s));
    }
    auto vault = open_vault(a);
    if (!vault)
        return fail(vault.error().message);
    if (!vault->contents().pairing)
        return fail(
            "not paired: run `skgate-agent pair` on the laptop and `skgate-authenticator "
            "pair URI` here");
    PairingRecord record = *vault->contents().pairing;
    auto broker = broker_settings(a, record.address);
    if (!broker)
        return fail(broker.error().message);
    Authenticator auth(*vault, *approver, static_cast<int>(*any_host_max));
    signal(SIGPIPE, SIG_IGN);
    bool announced_wait = false;
    // Retries come quickly at first (an agent restarting), then back off to
    // kMaxRetryMs, so that an agent or network gone for long is not hammered.
    int retry_ms = kFirstRetryMs;
    auto back_off = [&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(retry_ms));
        retry_ms = std::min(retry_ms * 2, kMaxRetryMs);
    };
    for (;;) {
        auto transport = connect_channel(record.address, kLinkConnectTimeoutMs, &*broker);
        if (!transport) {
            if (!announced_wait)
                std::fprintf(stderr, "skgate-authenticator: waiting for the agent at %s (%s)\n",
                             record.address.c_str(), transport.error().message.c_str());
            announced_wait = true;
            back_off();
            continue;
        }
        std::shared_ptr<Transport> t(std::move(*transport));
        auto channel = session_connect(t, record, kSessionHandshakeTimeoutMs);
        if (!channel) {
            std::fprintf(stderr, "skgate-authenticator: session refused: %s\n",
                         channel.error().message.c_str());
            if (a.flag("--once"))
                return kExitFailure;
            back_off();
            continue;
        }
        announced_wait = false;
        retry_ms = kFirstRetryMs;
        std::fprintf(stderr, "skgate-authenticator: connected to %s; waiting for requests\n",
                     record.device_name.c_str());
        auto st = auth.serve(**channel);
        if (st && *st == Authenticator::SessionEnd::unpaired) {
            // Only the agent could seal that message: the pairing is over,
            // and retrying would only be refused.
            // Forgotten only if it is still that pairing: a `pair` run
            // meanwhile (which made the agent end this one) is kept.
            Status saved = vault->update([&](VaultContents& v) -> Status {
                if (v.pairing && equal_bytes(v.pairing->device_id, record.device_id))
                    v.pairing.reset();
                return {};
            });
            if (!saved)
                return fail("unpaired by the agent, but cannot forget the pairing: " +
                            saved.error().message);
            std::fprintf(stderr,
                         "skgate-authenticator: unpaired by '%s': stopping. Pair again "
                         "(`skgate-agent pair` on the laptop) to use it.\n",
                         record.device_name.c_str());
            return kExitOk;
        }
        std::fprintf(stderr, "skgate-authenticator: session ended: %s\n",
                     st ? "closed" : st.error().message.c_str());
        if (a.flag("--once"))
            return kExitOk;
        std::this_thread::sleep_for(std::chrono::milliseconds(kFirstRetryMs));
    }
}

int cmd_list(const Args& args) {
    ArgParser a(with_common({}), {});
    if (auto st = a.parse(args); !st)
        return usage(st.error().message);
    auto vault = open_vault(a);
    if (!vault)
        return fail(vault.error().message);
    const auto& c = vault->contents();
    if (c.pairing)
        std::printf("paired with: %s (%s)\n", c.pairing->device_name.c_str(),
                    c.pairing->address.c_str());
    else
        std::printf("paired with: nobody\n");
    for (const auto& cred : c.credentials)
        std::printf("key '%s': %s %s, %s, counter %u, created %s\n", cred.name.c_str(),
                    cred.algorithm == KeyAlgorithm::sk_ed25519 ? "Ed25519" : "ECDSA-P256",
                    cred.application.c_str(), cred.verify_required ? "PIN required" : "touch",
                    cred.counter, format_iso8601(static_cast<std::time_t>(cred.created)).c_str());
    return kExitOk;
}

}  // namespace skgate::authenticator

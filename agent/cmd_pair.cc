// skgate-agent pair [--timeout SECONDS] / skgate-agent unpair
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "agent/commands.h"
#include "agent/event_limit.h"
#include "agent/handshake_limit.h"
#include "agent/keyring.h"
#include "agent/qr.h"
#include "agent/server.h"
#include "core/audit/audit.h"
#include "core/link/broker.h"
#include "core/link/channel.h"
#include "core/link/channel_crypto.h"
#include "core/link/pairing.h"
#include "core/link/pairing_handshake.h"
#include "core/sys/args.h"
#include "core/sys/monotonic.h"
#include "core/sys/thread_group.h"

namespace skgate::agent {

namespace {

int fail(const std::string& what) {
    std::fprintf(stderr, "skgate-agent: pair: %s\n", what.c_str());
    return kExitFailure;
}

// A connection to the pairing address, and the source it counts under
// (PeerHandshakeLimit::source_of; "" for the Unix socket and the broker).
struct PairingConnection {
    std::shared_ptr<Transport> transport;
    std::string source;
};

constexpr const char* kSecondResponderReason =
    "a second device answered this pairing's URI, so someone else has seen it";
constexpr const char* kCrowdedOutReason =
    "after a device answered, connections to the pairing address crowded out one that may "
    "have been a second device, so someone else may have seen this pairing's URI";

// How many connections from one host on the network are heard at once: one
// host must not take every place and keep the person's device out.
constexpr size_t kMaxPairingConnectionsPerSource = 4;

// Every connection to the pairing address runs the pairing exchange in a
// thread of its own, so a silent one (a port scan held open) or garbage
// never keeps the person's device from being heard. A connection that
// proves nothing (a scan, garbage, a stranger who knows only the address)
// is closed and forgotten. The first that proves it holds the URI's token
// is the responder; anyone after it who proves it too is told no, and the
// pairing is aborted: a second responder means someone else has the URI,
// and which of the two is the person's own device nobody can tell.
//
// At most kMaxReaders connections are heard at once, and
// kMaxPairingConnectionsPerSource of one source. When every place is taken
// the oldest connection still in its exchange makes room for the newest:
// connections held open cannot keep the device out. Once a device has
// answered, a connection pushed out that way may have been a second one,
// so the pairing is aborted then too.
class PairingResponders {
  public:
    // `accept`: the next connection to the pairing address, or an error on
    // timeout (a socket listener's or the broker's).
    // `dropped`: how many connections the listener lost before they came
    // to be accepted (BrokerListener::dropped_connections; 0 for a socket).
    using Accept = std::function<Result<PairingConnection>(int timeout_ms)>;
    using Dropped = std::function<uint64_t()>;
    PairingResponders(Accept accept, Dropped dropped, const PairingOffer& offer)
        : offer_(offer),
          dropped_(std::move(dropped)),
          sources_(kMaxPairingConnectionsPerSource),
          thread_([this, accept = std::move(accept)] {
              while (!stop_.load()) {
                  auto c = accept(100);
                  readers_.reap();
                  if (c)
                      admit(std::move(*c));
                  check_dropped();
              }
          }) {}
    ~PairingResponders() { stop(); }
    PairingResponders(const PairingResponders&) = delete;
    PairingResponders& operator=(const PairingResponders&) = delete;

    // The first responder that proved it holds the token, or an
    // ErrorCode::not_found error when none did within `timeout_ms`.
    Result<PairingResponder> wait_first(int timeout_ms) {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!found_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                             [&] { return first_.has_value(); }))
            return make_error(ErrorCode::not_found, "no authenticator answered in time");
        PairingResponder r = std::move(*first_);
        first_.reset();
        return r;
    }

    // After it, nobody else is answered (or noticed); the first responder's
    // connection stays open.
    void stop() {
        stop_.store(true);
        if (thread_.joinable())
            thread_.join();
        {
            std::lock_guard<std::mutex> lock(mutex_);
            for (auto& w : open_)
                if (auto t = w.lock(); t && t != first_transport_)
                    t->shutdown();
        }
        readers_.join_all();
    }
    // Set when the pairing must be aborted; abort_reason() then says why.
    const std::atomic<bool>& aborted() const { return aborted_; }
    std::string abort_reason() {
        std::lock_guard<std::mutex> lock(mutex_);
        return abort_reason_;
    }

  private:
    static constexpr size_t kMaxReaders = 32;
    struct Hearing {
        std::shared_ptr<Transport> transport;
        std::string source;
    };

    void admit(PairingConnection c) {
        // The threads of pushed-out connections end as soon as they notice;
        // beyond twice the places, new ones are not heard until they have.
        if (readers_.running() >= 2 * kMaxReaders) {
            refuse(c, "too many connections are ending");
            return;
        }
        auto place = sources_.acquire(c.source);
        if (!place) {
            refuse(c, std::to_string(kMaxPairingConnectionsPerSource) +
                          " from there are being heard already");
            return;
        }
        std::shared_ptr<Transport> pushed_out;
        bool answered = false;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            std::erase_if(open_, [](const auto& w) { return w.expired(); });
            open_.push_back(c.transport);
            if (hearing_.size() >= kMaxReaders) {
                auto victim = pick_pushed_out();
                pushed_out = victim->transport;
                hearing_.erase(victim);
                answered = first_transport_ != nullptr;
            }
            hearing_.push_back({c.transport, c.source});
        }
        if (pushed_out) {
            pushed_out->shutdown();
            if (auto more = pushed_out_note_.admit(monotonic_us()))
                std::fprintf(stderr,
                             "skgate-agent: pair: closed a connection still in its exchange (the "
                             "oldest of the host with the most) to hear a new one%s\n",
                             and_more(*more).c_str());
            if (answered)
                abort(kCrowdedOutReason, "pairing connections crowded out");
        }
        auto held = std::make_shared<PeerHandshakeLimit::Place>(std::move(*place));
        if (!readers_.start([this, t = c.transport, held] { read_one(t); })) {
            done_hearing(c.transport);
            refuse(c, "no thread to read it");
        }
    }

    // With mutex_ held and hearing_ full: the oldest connection of the
    // source that holds the most places, so that hosts opening connections
    // push out their own and not the device's (which holds one).
    std::deque<Hearing>::iterator pick_pushed_out() {
        std::map<std::string, size_t> held;
        size_t most = 0;
        for (const auto& h : hearing_)
            most = std::max(most, ++held[h.source]);
        return std::find_if(hearing_.begin(), hearing_.end(),
                            [&](const Hearing& h) { return held[h.source] == most; });
    }

    // A connection not heard. Once a device has answered, it may have been
    // a second one: the pairing is aborted.
    void refuse(const PairingConnection& c, const std::string& why) {
        c.transport->shutdown();
        if (auto more = refused_note_.admit(monotonic_us()))
            std::fprintf(stderr, "skgate-agent: pair: ignored a connection from %s: %s%s\n",
                         c.source.empty() ? "the broker" : c.source.c_str(), why.c_str(),
                         and_more(*more).c_str());
        if (answered())
            abort(kCrowdedOutReason, "pairing connections crowded out");
    }

    bool answered() {
        std::lock_guard<std::mutex> lock(mutex_);
        return first_transport_ != nullptr;
    }

    // Connections the listener lost after the answer may have been a
    // second device's too.
    void check_dropped() {
        bool lost;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            lost = first_transport_ && dropped_() != dropped_at_answer_;
        }
        if (lost)
            abort(kCrowdedOutReason, "pairing connections crowded out");
    }

    static std::string and_more(uint64_t more) {
        return more ? " (and " + std::to_string(more) + " more like it since the last)" : "";
    }

    void done_hearing(const std::shared_ptr<Transport>& t) {
        std::lock_guard<std::mutex> lock(mutex_);
        std::erase_if(hearing_, [&](const Hearing& h) { return h.transport == t; });
    }

    void abort(const char* reason, const char* audit_reason) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (aborted_.load())
                return;
            abort_reason_ = reason;
            aborted_.store(true);
        }
        std::fprintf(stderr, "skgate-agent: pair: %s: aborting the pairing\n", reason);
        AuditEvent e;
        e.event = "agent-pair";
        e.decision = Decision::deny;
        e.reason = audit_reason;
        e.message = std::string("aborted a pairing: ") + reason;
        audit_record(e);
    }

    void read_one(const std::shared_ptr<Transport>& t) {
        auto responder = agent_pairing_exchange(t, offer_, kPairingStepTimeoutMs);
        done_hearing(t);
        if (!responder) {
            t->shutdown();
            std::fprintf(stderr,
                         "skgate-agent: pair: ignored a connection that did not prove it holds "
                         "this pairing's URI (%s)\n",
                         responder.error().message.c_str());
            return;
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (!first_transport_ && !stop_.load()) {
                first_transport_ = t;
                dropped_at_answer_ = dropped_();
                first_ = std::move(*responder);
                found_.notify_all();
                return;
            }
        }
        (void)send_pairing_verdict(*responder->channel, false,
                                   "this pairing already has a responder", "", "");
        t->shutdown();
        abort(kSecondResponderReason, "second responder");
    }

    const PairingOffer& offer_;
    const Dropped dropped_;
    uint64_t dropped_at_answer_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<bool> aborted_{false};
    PeerHandshakeLimit sources_;
    std::mutex mutex_;
    std::condition_variable found_;
    std::string abort_reason_;
    std::optional<PairingResponder> first_;       // until wait_first takes it
    std::shared_ptr<Transport> first_transport_;  // kept open by stop()
    std::vector<std::weak_ptr<Transport>> open_;  // shut down by stop()
    std::deque<Hearing> hearing_;                 // in their exchange, oldest first
    // Connections a stranger can open at will: a line on stderr a second.
    EventRateLimit refused_note_{1'000'000}, pushed_out_note_{1'000'000};
    ThreadGroup readers_;
    std::thread thread_;  // last: it starts once the rest is there
};

// A line from standard input, read byte by byte (so that nothing after it is
// buffered away from the next question); nullopt at the end of input or
// once `abort` is set.
std::optional<std::string> read_answer(const std::atomic<bool>* abort) {
    std::string line;
    for (;;) {
        if (abort && abort->load())
            return std::nullopt;
        pollfd p{STDIN_FILENO, POLLIN, 0};
        int rc = poll(&p, 1, 200);
        if (rc < 0 && errno != EINTR)
            return std::nullopt;
        if (rc <= 0)
            continue;
        char c = 0;
        ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return line.empty() ? std::nullopt : std::optional<std::string>(line);
        if (c == '\n')
            break;
        if (line.size() < 256)
            line += c;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.pop_back();
    return line;
}

// A laptop already paired keeps its pairings unless the person says so
// (or --replace did); --add keeps them and adds one.
bool may_replace_pairing(const AgentPaths& paths, bool replace) {
    if (replace)
        return true;
    auto current = load_pairings(paths);
    if (!current) {
        // Unreadable is not "unpaired": a pairing the agent cannot read is
        // replaced only when asked to.
        std::fprintf(stderr, "skgate-agent: pair: %s\n", current.error().message.c_str());
        return false;
    }
    if (current->empty())
        return true;
    std::printf(
        "This laptop is paired with %s. Replace that pairing? (`pair --add` keeps it and "
        "pairs one more) [y/N] ",
        current->names().c_str());
    std::fflush(stdout);
    auto answer = read_answer(nullptr);
    if (answer && (*answer == "y" || *answer == "Y" || *answer == "yes"))
        return true;
    std::printf("\n");
    return false;
}

Status send_verdict(SecureChannel& ch, bool ok, const std::string& reason,
                    const std::string& link_address) {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return send_pairing_verdict(
        ch, ok, reason, std::string(host).substr(0, kMaxDeviceName - 6) + " agent", link_address);
}

// --address and --link: where the authenticator answers the pairing, and
// where it connects from then on (run --listen). Both must be addresses it
// can reach, so "every address" (0.0.0.0, [::]) is no answer.
Result<std::pair<std::string, std::string>> pairing_addresses(const ArgParser& a,
                                                              const AgentPaths& paths) {
    auto address = a.value("--address");
    auto link = a.value("--link");
    if (auto broker = a.value("--broker")) {
        // Two fresh random topics: one for this pairing's exchange (it is in
        // the URI, which the person shows around), one the link uses from
        // then on (sent only inside the sealed verdict).
        if (address || link)
            return invalid("--broker pairs through the broker: it takes no --address or --link");
        if (!is_broker_address(*broker) || broker->find('/') != std::string::npos)
            return invalid("--broker takes mqtts:HOST:PORT (the topics are made here), not '" +
                           *broker + "'");
        SKGATE_TRY(pair_topic, BrokerAddress::random_topic());
        SKGATE_TRY(link_topic, BrokerAddress::random_topic());
        SKGATE_TRY(pair_address, BrokerAddress::parse(*broker + "/" + pair_topic));
        return std::pair{pair_address.format(), pair_address.with_topic(link_topic).format()};
    }
    if (!address) {
        if (link)
            return invalid("--link needs --address (pairing over the network)");
        return std::pair{"unix:" + paths.pair_socket(), "unix:" + paths.link_socket()};
    }
    for (const std::string* v : {&*address, link ? &*link : nullptr}) {
        if (!v)
            continue;
        if (v->rfind("tcp:", 0) != 0 || !check_channel_address(*v))
            return invalid("'" + *v + "' is not of the form tcp:HOST:PORT");
        if (v->rfind("tcp:0.0.0.0:", 0) == 0 || v->rfind("tcp:[::]:", 0) == 0)
            return invalid("'" + *v +
                           "' is no address the authenticator can reach: give this "
                           "machine's address on the network they share");
    }
    return std::pair{*address, link.value_or(*address)};
}

// Where the pairing's answer arrives: the pair socket, a TCP address, or a
// topic on the broker.
class PairingListener {
  public:
    static Result<PairingListener> open(const std::string& address, const AgentPaths& paths) {
        PairingListener p;
        if (is_broker_address(address)) {
            SKGATE_TRY(a, BrokerAddress::parse(address));
            SKGATE_TRY(settings, BrokerSettings::load(paths.broker_settings()));
            SKGATE_TRY(b, BrokerListener::start(a, settings));
            SKGATE_CHECK(b->wait_ready(kLinkConnectTimeoutMs));
            p.broker_ = std::move(b);
            return p;
        }
        auto l = address.rfind("tcp:", 0) == 0 ? Listener::bind_tcp(address)
                                               : Listener::bind_unix(paths.pair_socket());
        if (!l && address.rfind("tcp:", 0) == 0)
            return make_error(l.error().code,
                              l.error().message +
                                  " (if `skgate-agent run --listen` uses that port, pair on "
                                  "another one and name run's with --link)");
        if (!l)
            return l.error();
        p.socket_.emplace(std::move(*l));
        return p;
    }

    Result<PairingConnection> accept(int timeout_ms) {
        if (broker_) {
            SKGATE_TRY(t, broker_->accept(timeout_ms));
            return PairingConnection{t, ""};
        }
        SKGATE_TRY(fd, socket_->accept(timeout_ms));
        std::string source = PeerHandshakeLimit::source_of_peer(fd);
        return PairingConnection{std::make_shared<SocketTransport>(fd), source};
    }

    uint64_t dropped() const { return broker_ ? broker_->dropped_connections() : 0; }

  private:
    std::optional<Listener> socket_;
    std::unique_ptr<BrokerListener> broker_;
};

Result<PairingListener> listen_for_pairing(const std::string& address, const AgentPaths& paths) {
    return PairingListener::open(address, paths);
}

}  // namespace

int cmd_pair(const Args& args) {
    ArgParser a({"--timeout", "--address", "--link", "--broker"},
                {"--no-qr", "--replace", "--add"});
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
    auto addresses = pairing_addresses(a, paths);
    if (!addresses) {
        std::fprintf(stderr, "skgate-agent: pair: %s\n", addresses.error().message.c_str());
        return kExitUsage;
    }
    const std::string pair_address = addresses->first, link_address = addresses->second;
    const bool add = a.flag("--add");
    if (add && a.flag("--replace")) {
        std::fprintf(stderr,
                     "skgate-agent: pair: --add keeps the pairings, --replace ends them: "
                     "give one\n");
        return kExitUsage;
    }
    if (add) {
        // Checked before anyone scans a code: what would be refused at the end.
        auto current = load_pairings(paths);
        if (!current)
            return fail(current.error().message);
        if (current->records.size() >= kMaxPairedDevices)
            return fail("this agent is paired with " + std::to_string(kMaxPairedDevices) +
                        " authenticators, the most it takes: unpair one first");
        if (is_broker_address(link_address))
            for (const auto& r : current->records)
                if (is_broker_address(r.address))
                    return fail("'" + r.device_name +
                                "' is paired through a broker already, and the agent follows "
                                "one broker link: pair this one over the network or the "
                                "local socket, or unpair that one first");
    } else if (!may_replace_pairing(paths, a.flag("--replace"))) {
        return fail(
            "kept the current pairing (--replace replaces it without asking; --add adds "
            "one more)");
    }
    auto pairing_listener = listen_for_pairing(pair_address, paths);
    if (!pairing_listener)
        return fail(pairing_listener.error().message);
    PairingListener& listener = *pairing_listener;
    auto offer = make_pairing_offer(pair_address);
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

    PairingResponders responders([&listener](int ms) { return listener.accept(ms); },
                                 [&listener] { return listener.dropped(); }, *offer);
    auto responder = responders.wait_first(timeout_s * 1000);
    if (!responder)
        return fail(responder.error().message);
    const std::string& device_name = responder->device_name;
    const PairingKeys& keys = responder->keys;
    SecureChannel& channel = *responder->channel;
    auto abort_second = [&] {
        std::string why = responders.abort_reason();
        (void)send_verdict(channel, false, why, link_address);
        return fail(why +
                    ". The pairing was aborted on both devices and nothing was saved; run "
                    "`skgate-agent pair` again where nobody else can see the code.");
    };
    if (responders.aborted().load())
        return abort_second();
    if (add) {
        // `--device NAME` must name one device: a second of the same name is
        // refused before any code is compared.
        auto current = load_pairings(paths);
        if (current && current->named(device_name)) {
            (void)send_verdict(channel, false,
                               "this laptop has an authenticator called '" + device_name +
                                   "' paired already: give this one another name",
                               link_address);
            return fail("an authenticator called '" + device_name +
                        "' is paired already: start the new one's pairing with another --name "
                        "(or `skgate-agent unpair --device '" +
                        device_name + "'` first). Nothing was saved.");
        }
    }

    std::printf(
        "\nAuthenticator '%s' answered.\nConfirmation code: %s\n"
        "Type the code the authenticator shows: ",
        device_name.c_str(), keys.code.c_str());
    std::fflush(stdout);
    std::string typed = read_answer(&responders.aborted()).value_or("");
    // From here on nobody else is answered: what was seen is final.
    responders.stop();
    if (responders.aborted().load())
        return abort_second();
    if (!confirmation_code_matches(typed, keys.code)) {
        (void)send_verdict(channel, false, "the confirmation codes differ", link_address);
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
    // The agent's `run` follows a broker link itself (it dials out); over a
    // socket it listens where it is told.
    if (is_broker_address(link_address))
        record.address = link_address;
    if (auto st = add ? add_pairing(paths, record) : replace_pairings(paths, record); !st) {
        // The authenticator says why (a name taken already, say): nothing
        // was saved on either side.
        (void)send_verdict(channel, false, "the agent could not save the pairing", link_address);
        return fail(st.error().message);
    }
    if (auto st = send_verdict(channel, true, "", link_address); !st)
        return fail("paired, but the authenticator did not get the answer: " + st.error().message +
                    "; pair again");
    AuditEvent e;
    e.event = "agent-pair";
    e.decision = Decision::allow;
    e.message = "paired with authenticator '" + device_name + "'";
    audit_record(e);
    std::printf("Paired with '%s'.\n", device_name.c_str());
    if (add)
        std::printf(
            "Make a key on it with `skgate-agent generate --device '%s' --name NAME` "
            "and enroll that key too.\n",
            device_name.c_str());
    // A running agent ends the session of a device this pairing replaced.
    if (auto told = notify_pairing_changed(paths); told && !add)
        std::printf("The running agent %s.\n", told->c_str());
    return kExitOk;
}

int cmd_unpair(const Args& args) {
    ArgParser a({"--device"}, {});
    if (auto st = a.parse(args); !st || !a.positional().empty()) {
        std::fputs(kUnpairUsage, stderr);
        return kExitUsage;
    }
    AgentPaths paths = AgentPaths::from_environment();
    auto paired = load_pairings(paths);
    if (!paired)
        return fail(paired.error().message);
    if (paired->empty()) {
        std::printf("Not paired.\n");
        return kExitOk;
    }
    const PairingRecord* device = nullptr;
    if (auto name = a.value("--device")) {
        auto named = paired->named(*name);
        if (!named)
            return fail(named.error().message);
        device = *named;
    } else if (paired->records.size() == 1) {
        device = &paired->records.front();
    } else {
        return fail("several authenticators are paired (" + paired->names() +
                    "): name the one to forget with --device");
    }
    const std::string name = device->device_name;
    if (auto st = remove_pairing(paths, *device); !st)
        return fail(st.error().message);
    AuditEvent e;
    e.event = "agent-pair";
    e.decision = Decision::deny;
    e.reason = "unpaired";
    e.message = "unpaired authenticator '" + name + "'";
    audit_record(e);
    std::printf(
        "Unpaired '%s': it can no longer connect. Its keys stay on it; pair it again to "
        "use them (revoke them on the servers if it is lost).\n",
        name.c_str());
    auto told = notify_pairing_changed(paths);
    if (told)
        std::printf("The running agent %s.\n", told->c_str());
    else if (told.error().code != ErrorCode::not_found)
        std::fprintf(stderr, "skgate-agent: unpair: the running agent did not answer: %s\n",
                     told.error().message.c_str());
    return kExitOk;
}

}  // namespace skgate::agent

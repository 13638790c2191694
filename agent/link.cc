#include "agent/link.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <thread>

#include "core/link/pairing.h"
#include "core/sys/text.h"
#include "core/sys/timeutil.h"

namespace skgate::agent {

void AuthenticatorLink::attach(std::unique_ptr<SecureChannel> channel,
                               const std::string& device_name, const Bytes& device_id) {
    std::lock_guard<std::mutex> serial(attach_mutex_);
    std::shared_ptr<SecureChannel> ch(std::move(channel));
    uint64_t generation;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) {
            ch->transport().shutdown();
            return;
        }
        if (channel_)
            channel_->transport().shutdown();
        channel_ = ch;
        device_name_ = device_name;
        device_id_ = device_id;
        generation = ++generation_;
    }
    changed_.notify_all();
    // The old reader returns once its transport is shut down.
    if (reader_.joinable())
        reader_.join();
    reader_ = std::thread([this, ch, generation] { read_loop(ch, generation); });
}

void AuthenticatorLink::stop() {
    std::lock_guard<std::mutex> serial(attach_mutex_);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
        if (channel_)
            channel_->transport().shutdown();
        channel_.reset();
        ++generation_;
    }
    changed_.notify_all();
    if (reader_.joinable())
        reader_.join();
}

std::string AuthenticatorLink::end_unless_paired(const std::optional<Bytes>& paired_device) {
    std::shared_ptr<SecureChannel> ch;
    std::string name;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!channel_ || (paired_device && equal_bytes(*paired_device, device_id_)))
            return "";
        ch = channel_;
        name = device_name_;
        channel_.reset();
        ++generation_;
        last_problem_ = "at " + format_iso8601(std::time(nullptr)) + " '" + name +
                        "' was unpaired on this laptop";
    }
    changed_.notify_all();
    // Best effort: the session ends whether or not the message arrives.
    (void)ch->send(Unpaired{.reason = "unpaired on the laptop"}.to_fields());
    ch->transport().shutdown();
    return name;
}

bool AuthenticatorLink::connected() {
    std::lock_guard<std::mutex> lock(mutex_);
    return channel_ != nullptr;
}

std::string AuthenticatorLink::status_text() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out = channel_ ? "connected " + device_name_ : "disconnected: " + last_problem_;
    if (!transport_state_.empty())
        out += "; broker link: " + transport_state_;
    return out;
}

void AuthenticatorLink::set_transport_state(const std::string& state) {
    std::lock_guard<std::mutex> lock(mutex_);
    transport_state_ = state;
}

void AuthenticatorLink::begin_connecting() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++connecting_;
}

void AuthenticatorLink::end_connecting(const std::string& refused) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        --connecting_;
    }
    note_refused(refused);
    changed_.notify_all();
}

void AuthenticatorLink::note_refused(const std::string& refused) {
    if (refused.empty())
        return;
    std::lock_guard<std::mutex> lock(mutex_);
    last_problem_ =
        "at " + format_iso8601(std::time(nullptr)) + " a connection was refused: " + refused;
}

std::string AuthenticatorLink::device_name() {
    std::lock_guard<std::mutex> lock(mutex_);
    return device_name_;
}

void AuthenticatorLink::read_loop(std::shared_ptr<SecureChannel> channel, uint64_t generation) {
    for (;;) {
        auto message = channel->receive(-1);
        if (!message) {
            // The authenticator must hear that the session is over (a
            // refused frame leaves its end open otherwise).
            channel->transport().shutdown();
            std::lock_guard<std::mutex> lock(mutex_);
            if (generation_ == generation) {
                channel_.reset();
                last_problem_ = "at " + format_iso8601(std::time(nullptr)) + " '" + device_name_ +
                                "' disconnected (" + message.error().message + ")";
                std::fprintf(stderr, "skgate-agent: the authenticator disconnected (%s)\n",
                             message.error().message.c_str());
            }
            changed_.notify_all();
            return;
        }
        auto id = message->get_uint(msg::field::kId, "request id");
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = id ? pending_.find(*id) : pending_.end();
        if (it == pending_.end() || it->second) {
            // Late answers (after a timeout) and unsolicited ones.
            std::fprintf(stderr, "skgate-agent: ignored an answer to no pending request\n");
            continue;
        }
        it->second = std::move(*message);
        changed_.notify_all();
    }
}

Result<CborFields> AuthenticatorLink::round_trip(const CborFields& request, uint64_t id,
                                                 int timeout_ms) {
    auto start = std::chrono::steady_clock::now();
    auto deadline = start + std::chrono::milliseconds(timeout_ms);
    auto grace_end = std::min(deadline, start + std::chrono::milliseconds(kNoAuthenticatorGraceMs));
    auto handshake_end = std::min(
        deadline,
        start + std::chrono::milliseconds(kNoAuthenticatorGraceMs + kSessionHandshakeTimeoutMs));
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        if (channel_ || stopping_)
            break;
        // One that is connecting gets its handshake's time, no more: a
        // stranger opening connections to a TCP link cannot keep requests
        // waiting out their whole timeout.
        auto until = connecting_ > 0 ? handshake_end : grace_end;
        if (std::chrono::steady_clock::now() >= until)
            break;
        changed_.wait_until(lock, until);
    }
    if (stopping_)
        return make_error(ErrorCode::io, "the agent is stopping");
    if (!channel_)
        return make_error(ErrorCode::io, "no authenticator is connected (" + last_problem_ +
                                             "; is skgate-authenticator running and paired?)");
    std::shared_ptr<SecureChannel> ch = channel_;
    uint64_t generation = generation_;
    pending_[id] = std::nullopt;
    lock.unlock();
    Status sent = ch->send(request);
    lock.lock();
    if (!sent) {
        pending_.erase(id);
        return make_error(ErrorCode::io, "cannot reach the authenticator: " + sent.error().message);
    }
    bool answered = changed_.wait_until(lock, deadline, [&] {
        return pending_[id].has_value() || generation_ != generation || channel_ == nullptr ||
               stopping_;
    });
    auto answer = std::move(pending_[id]);
    pending_.erase(id);
    if (answer)
        return std::move(*answer);
    if (!answered)
        return make_error(ErrorCode::io, "the authenticator did not answer within " +
                                             std::to_string(timeout_ms / 1000) + " s");
    return make_error(ErrorCode::io, "the authenticator disconnected before answering");
}

Result<SignResponse> AuthenticatorLink::sign(SignRequest req, int timeout_ms) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        req.id = next_id_++;
    }
    SKGATE_TRY(answer, round_trip(req.to_fields(), req.id, timeout_ms));
    SKGATE_TRY(resp, SignResponse::from_fields(answer));
    return resp;
}

Result<RegisterResponse> AuthenticatorLink::register_key(RegisterRequest req, int timeout_ms) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        req.id = next_id_++;
    }
    SKGATE_TRY(answer, round_trip(req.to_fields(), req.id, timeout_ms));
    SKGATE_TRY(resp, RegisterResponse::from_fields(answer));
    return resp;
}

AuthenticatorLink& LinkSet::of(ByteView device_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& link = links_[hex_encode(device_id)];
    if (!link) {
        link = std::make_unique<AuthenticatorLink>();
        if (stopped_)
            link->stop();
    }
    return *link;
}

std::vector<std::string> LinkSet::end_unpaired(const std::vector<PairingRecord>& paired) {
    std::vector<AuthenticatorLink*> unpaired;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto& entry : links_) {
            const std::string& id = entry.first;
            if (std::none_of(paired.begin(), paired.end(),
                             [&](const PairingRecord& r) { return hex_encode(r.device_id) == id; }))
                unpaired.push_back(entry.second.get());
        }
    }
    std::vector<std::string> ended;
    for (auto* link : unpaired)
        if (std::string name = link->end_unless_paired(std::nullopt); !name.empty())
            ended.push_back(name);
    return ended;
}

void LinkSet::stop() {
    std::vector<AuthenticatorLink*> all;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopped_ = true;
        for (auto& [id, link] : links_)
            all.push_back(link.get());
    }
    for (auto* link : all)
        link->stop();
}

std::string LinkSet::status_text(const std::vector<PairingRecord>& paired) {
    if (paired.size() == 1)
        return of(paired.front().device_id).status_text();
    if (paired.empty()) {
        // The one device this agent knew says when and why it left.
        AuthenticatorLink* only = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (links_.size() == 1)
                only = links_.begin()->second.get();
        }
        return only ? only->status_text()
                    : "disconnected: no authenticator is paired (run `skgate-agent pair`)";
    }
    std::string out;
    for (const auto& r : paired) {
        std::string text = of(r.device_id).status_text();
        // "connected NAME" says the name already.
        if (text.rfind("connected ", 0) == 0)
            text = "connected";
        out += (out.empty() ? "'" : "; '") + r.device_name + "' " + text;
    }
    return out;
}

}  // namespace skgate::agent

#include "authenticator/authenticator.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "core/link/channel_crypto.h"
#include "core/link/pairing.h"
#include "core/ssh/ossl.h"
#include "core/ssh/sign_purpose.h"
#include "core/ssh/sksig.h"
#include "core/sys/sha256.h"
#include "core/sys/text.h"
#include "core/sys/thread_group.h"

namespace skgate::authenticator {

namespace {

constexpr size_t kCredentialIdBytes = 16;
constexpr size_t kMaxQuestionBytes = 2048;

RegisterResponse register_error(uint64_t id, LinkStatus status, std::string reason) {
    RegisterResponse r;
    r.id = id;
    r.status = status;
    r.reason = std::move(reason);
    return r;
}

SignResponse sign_error(uint64_t id, LinkStatus status, std::string reason) {
    SignResponse r;
    r.id = id;
    r.status = status;
    r.reason = std::move(reason);
    return r;
}

Result<PublicKey> public_key_of(const Credential& c) {
    if (c.algorithm == KeyAlgorithm::sk_ed25519)
        return PublicKey::make_sk_ed25519(c.public_key, c.application);
    return PublicKey::make_sk_ecdsa(c.public_key, c.application);
}

ossl::SkKeyMaterial material_of(const Credential& c) {
    ossl::SkKeyMaterial m;
    m.private_key = c.private_key;
    m.public_key = c.public_key;
    return m;
}

}  // namespace

bool Authenticator::verify_user(const std::string& what) {
    auto pin = approver_.ask_pin("PIN for " + what + ": ");
    if (!pin)
        return false;
    auto ok = vault_.check_passphrase(*pin);
    return ok && *ok;
}

bool Authenticator::in_window(const std::string& key) {
    auto it = windows_.find(key);
    if (it == windows_.end())
        return false;
    if (std::chrono::steady_clock::now() < it->second)
        return true;
    windows_.erase(it);
    return false;
}

int64_t Authenticator::any_host_minutes_left() {
    if (!any_host_until_)
        return 0;
    auto now = std::chrono::steady_clock::now();
    if (now >= *any_host_until_) {
        any_host_until_.reset();
        return 0;
    }
    auto left = std::chrono::duration_cast<std::chrono::seconds>(*any_host_until_ - now).count();
    return (left + 59) / 60;
}

RegisterResponse Authenticator::handle(const RegisterRequest& req) {
    std::string what = "create the SSH key '" + printable(req.name, 256) + "' (" +
                       printable(req.application, 256) + ", " +
                       (req.algorithm == KeyAlgorithm::sk_ed25519 ? "Ed25519" : "ECDSA P-256") +
                       ((req.options & kLinkRequireUV) ? ", PIN required for every use" : "") + ")";
    Approval a = approver_.ask("Request: " + what, WindowOffer{});
    if (a.answer == Answer::no_answer)
        return register_error(req.id, LinkStatus::timeout, "nobody answered");
    if (a.answer == Answer::deny)
        return register_error(req.id, LinkStatus::denied, "refused on the authenticator");
    uint8_t flags = kAuthDataUserPresent | kAuthDataAttested;
    if (req.options & kLinkRequireUV) {
        if (!verify_user(what))
            return register_error(req.id, LinkStatus::not_verified, "wrong or missing PIN");
        flags |= kAuthDataUserVerified;
    }
    auto material = ossl::generate_sk_key(req.algorithm);
    auto id = random_bytes(kCredentialIdBytes);
    if (!material || !id)
        return register_error(req.id, LinkStatus::failed, "key generation failed");
    Credential c;
    c.id = *id;
    c.application = req.application;
    c.algorithm = req.algorithm;
    c.private_key = material->private_key;
    c.public_key = material->public_key;
    c.verify_required = (req.options & kLinkRequireUV) != 0;
    c.name = req.name;
    c.created = static_cast<uint64_t>(std::time(nullptr));
    auto key = public_key_of(c);
    if (!key)
        return register_error(req.id, LinkStatus::failed, key.error().message);
    auto auth_data =
        AuthenticatorData::encode(req.application, flags, 0, kSoftwareAaguid, c.id, *key);
    if (!auth_data)
        return register_error(req.id, LinkStatus::failed, auth_data.error().message);
    Bytes to_sign = *auth_data;
    to_sign.insert(to_sign.end(), req.client_data_hash.begin(), req.client_data_hash.end());
    auto sig = ossl::sign_as_authenticator(req.algorithm, *material, to_sign);
    if (!sig)
        return register_error(req.id, LinkStatus::failed, sig.error().message);
    {
        std::lock_guard<std::mutex> lock(mutex_);
        Status stored = vault_.update([&](VaultContents& v) -> Status {
            if (v.credentials.size() >= kMaxCredentials)
                return make_error(ErrorCode::invalid, "the authenticator is full");
            v.credentials.push_back(c);
            return {};
        });
        if (!stored)
            return register_error(req.id, LinkStatus::failed,
                                  "cannot store the key: " + stored.error().message);
    }
    RegisterResponse r;
    r.id = req.id;
    r.auth_data = std::move(*auth_data);
    r.signature = std::move(*sig);
    r.key_handle = c.id;
    std::fprintf(stderr, "skgate-authenticator: created key '%s'\n", req.name.c_str());
    return r;
}

SignResponse Authenticator::handle(const SignRequest& req) {
    std::optional<Credential> cred;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& c : vault_.contents().credentials)
            if (equal_bytes(c.id, req.key_handle) && c.application == req.application)
                cred = c;
    }
    if (!cred)
        return sign_error(req.id, LinkStatus::unknown_credential,
                          "this authenticator does not hold that key");
    auto purpose = describe_signed_data(req.data, req.context);
    std::string what =
        purpose ? purpose->describe() : "sign unrecognised data (" + purpose.error().message + ")";
    // The laptop's names for the server, as its known_hosts has them: shown,
    // never trusted (the window stays bound to the host key).
    if (purpose && purpose->kind == SignPurpose::Kind::login && !req.host_names.empty())
        what += " (" + printable(req.host_names, kMaxHostNames) + " in the laptop's known_hosts)";
    // A window is the person's answer to their own ssh: a request through an
    // agent forwarded to a server (anyone there may have sent it) neither
    // uses one nor is offered one.
    const bool forwarded = (req.options & kLinkForwarded) != 0;
    std::string window_key;
    if (purpose && purpose->kind == SignPurpose::Kind::login && !purpose->host_key_fp.empty() &&
        !forwarded)
        window_key = purpose->user + "@" + purpose->host_key_fp;
    bool need_uv = cred->verify_required || (req.options & kLinkRequireUV);
    // The windows answer only the person's own ssh logging in: never a
    // forwarded agent, a step-up or anything else, never user verification.
    const bool may_window = !window_key.empty() && !need_uv;
    bool pre_approved = false;
    int64_t any_left = 0;
    if (may_window) {
        std::lock_guard<std::mutex> lock(mutex_);
        pre_approved = in_window(window_key);
        if (!pre_approved) {
            any_left = any_host_minutes_left();
            pre_approved = any_left > 0;
        }
    }
    // Every part of a question may come from the requester (a step-up's
    // context fields from a server, a key's name): on a terminal, escape
    // sequences could rewrite what the person reads, so only printable
    // ASCII reaches it.
    what = printable(what, kMaxQuestionBytes);
    std::string question = "Request: " + what + " with key '" + printable(cred->name, 256) + "'" +
                           (forwarded ? ", through an agent forwarded to a server" : "");
    if (pre_approved && any_left > 0) {
        std::fprintf(stderr,
                     "skgate-authenticator: %s (allowed: any host from this laptop, %lld more "
                     "minute(s))\n",
                     question.c_str(), static_cast<long long>(any_left));
    } else if (pre_approved) {
        std::fprintf(stderr, "skgate-authenticator: %s (allowed for this host)\n",
                     question.c_str());
    } else {
        WindowOffer offer{may_window, may_window ? any_host_max_minutes_ : 0};
        Approval a = approver_.ask(question, offer);
        // Said at once, so that ssh is not left waiting for the agent's own
        // timeout on a prompt that is already gone.
        if (a.answer == Answer::no_answer)
            return sign_error(req.id, LinkStatus::timeout, "nobody answered the prompt");
        if (a.answer == Answer::deny)
            return sign_error(req.id, LinkStatus::denied, "refused on the authenticator");
        if (a.answer == Answer::host_window) {
            std::lock_guard<std::mutex> lock(mutex_);
            windows_[window_key] =
                std::chrono::steady_clock::now() + std::chrono::minutes(a.minutes);
        }
        if (a.answer == Answer::any_host_window && offer.any_host_minutes > 0) {
            int minutes = std::min(a.minutes, offer.any_host_minutes);
            std::lock_guard<std::mutex> lock(mutex_);
            any_host_until_ = std::chrono::steady_clock::now() + std::chrono::minutes(minutes);
            std::fprintf(stderr,
                         "skgate-authenticator: logins to any host from this laptop are allowed "
                         "for %d minute(s)\n",
                         minutes);
        }
    }
    uint8_t flags = kSkFlagUserPresent;
    if (need_uv) {
        if (!verify_user(what))
            return sign_error(req.id, LinkStatus::not_verified, "wrong or missing PIN");
        flags |= kSkFlagUserVerified;
    }
    uint32_t counter = 0;
    {
        // The counter is stored before the signature leaves: a crash can
        // skip a value, never reuse one.
        // The increment is made on the file as it is now (under its lock),
        // so two programs using the vault never hand out one value twice.
        std::lock_guard<std::mutex> lock(mutex_);
        Status stored = vault_.update([&](VaultContents& v) -> Status {
            for (auto& c : v.credentials) {
                if (!equal_bytes(c.id, cred->id))
                    continue;
                // Never at or below one this process issued, whatever the
                // file says now.
                uint32_t floor = std::max(c.counter, issued_[c.id]);
                if (floor == 0xffffffffu)
                    return make_error(ErrorCode::invalid, "the key's counter is exhausted");
                counter = c.counter = floor + 1;
                return {};
            }
            return make_error(ErrorCode::not_found, "the key was removed from the authenticator");
        });
        if (!stored)
            return sign_error(req.id, LinkStatus::failed,
                              "cannot count the signature: " + stored.error().message);
        issued_[cred->id] = counter;
    }
    Bytes message = sk_signed_message(req.application, flags, counter, req.data);
    auto sig = ossl::sign_as_authenticator(cred->algorithm, material_of(*cred), message);
    if (!sig)
        return sign_error(req.id, LinkStatus::failed, sig.error().message);
    SignResponse r;
    r.id = req.id;
    r.flags = flags;
    r.counter = counter;
    r.signature = std::move(*sig);
    return r;
}

Result<Authenticator::SessionEnd> Authenticator::serve(SecureChannel& channel) {
    ThreadGroup requests;
    auto start = [&](std::function<void()> job) {
        if (Status st = requests.start(std::move(job)); !st)
            std::fprintf(stderr, "skgate-authenticator: dropped a request: %s\n",
                         st.error().message.c_str());
    };
    Result<SessionEnd> result = SessionEnd::closed;
    for (;;) {
        auto message = channel.receive(-1);
        requests.reap();
        if (!message) {
            result = message.error();
            break;
        }
        auto parsed = parse_link_message(*message);
        if (!parsed) {
            std::fprintf(stderr, "skgate-authenticator: refused a malformed request: %s\n",
                         parsed.error().message.c_str());
            continue;
        }
        if (auto* reg = std::get_if<RegisterRequest>(&*parsed)) {
            start([this, &channel, req = *reg] {
                auto resp = handle(req);
                (void)channel.send(resp.to_fields());
            });
        } else if (auto* sign = std::get_if<SignRequest>(&*parsed)) {
            start([this, &channel, req = *sign] {
                auto resp = handle(req);
                (void)channel.send(resp.to_fields());
            });
        } else if (auto* unpaired = std::get_if<Unpaired>(&*parsed)) {
            std::fprintf(stderr, "skgate-authenticator: the agent ended the pairing (%s)\n",
                         unpaired->reason.c_str());
            result = SessionEnd::unpaired;
            break;
        } else {
            std::fprintf(stderr, "skgate-authenticator: ignored a message that is not a request\n");
        }
    }
    channel.transport().shutdown();
    requests.join_all();
    return result;
}

}  // namespace skgate::authenticator

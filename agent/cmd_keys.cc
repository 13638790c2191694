// skgate-agent generate / list / status
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "agent/commands.h"
#include "agent/keyring.h"
#include "agent/passkey_page.h"
#include "core/fido/attestation.h"
#include "core/fido/webauthn.h"
#include "core/link/channel_crypto.h"
#include "core/link/link_messages.h"
#include "core/ssh/agent_client.h"
#include "core/ssh/agent_protocol.h"
#include "core/ssh/wire.h"
#include "core/sys/args.h"
#include "core/sys/monotonic.h"
#include "core/sys/sha256.h"

namespace skgate::agent {

namespace {

// status asks a running agent and must answer at once; generate waits for
// the authenticator's own timeout and this margin on top.
constexpr int kAgentStatusTimeoutMs = 2'000;
constexpr int kAgentMarginMs = 5'000;

int fail(const char* cmd, const std::string& what) {
    std::fprintf(stderr, "skgate-agent: %s: %s\n", cmd, what.c_str());
    return kExitFailure;
}

Result<AgentClient> connect_agent(const AgentPaths& paths, int timeout_ms) {
    auto c = AgentClient::connect(paths.socket(), geteuid(), timeout_ms);
    if (!c)
        return make_error(c.error().code,
                          "skgate-agent is not running (" + c.error().message +
                              "): start it with `skgate-agent run` or `skgate-agent setup`");
    return c;
}

Result<PublicKey> credential_key(const AttestedCredential& cred, const std::string& app) {
    Bytes material = cred.public_key.ssh_material();
    if (cred.public_key.algorithm == KeyAlgorithm::sk_ed25519)
        return PublicKey::make_sk_ed25519(material, app);
    return PublicKey::make_sk_ecdsa(material, app);
}

// generate --passkey: the browser makes the key, through the one-time
// loopback page; no paired device and no running agent are involved.
int generate_passkey(const AgentPaths& paths, const std::string& name, bool verify_required,
                     int timeout_s) {
    if (auto st = paths.ensure(); !st)
        return fail("generate", st.error().message);
    auto challenge = random_bytes(32);
    if (!challenge)
        return fail("generate", challenge.error().message);
    PageRequest req;
    req.kind = PageRequest::Kind::create;
    req.challenge = *challenge;
    req.user_name = name;
    req.verify_required = verify_required;
    req.purpose = "Create the SSH key '" + name + "' as a passkey for skgate-agent.";
    auto answer = serve_passkey_page(
        req, monotonic_us() + static_cast<uint64_t>(timeout_s) * 1'000'000,
        [](const std::string& url) {
            std::printf("Create the passkey in your browser: %s\n", url.c_str());
            std::fflush(stdout);
            if (auto opened = open_browser(url); !opened)
                std::fprintf(stderr,
                             "skgate-agent: generate: could not open a browser (%s); "
                             "open the address above yourself\n",
                             opened.error().message.c_str());
        });
    if (!answer)
        return fail("generate", answer.error().message);
    auto att = answer->fields.find("attestationObject");
    auto cd = answer->fields.find("clientDataJSON");
    if (att == answer->fields.end() || cd == answer->fields.end())
        return fail("generate", "the page's answer lacks the attestation or the client data");
    auto reg = PasskeyRegistration::parse(att->second, cd->second, *challenge, answer->where);
    if (!reg)
        return fail("generate", "the browser's answer: " + reg.error().message);
    if (verify_required && !(reg->flags & kAuthDataUserVerified))
        return fail("generate", "the passkey did not verify you (no PIN or biometric)");
    AgentKey k{name, reg->key, reg->credential_id, verify_required, {}, true};
    if (auto st = save_key(paths, k, reg->attestation.serialize(), cd->second); !st)
        return fail("generate", st.error().message);
    std::string base = paths.keys() + "/" + name;
    std::printf("%s skgate:%s\n", reg->key.to_text().c_str(), name.c_str());
    std::fprintf(stderr,
                 "\nKey '%s' (%s) is a passkey (attestation: %s); your browser keeps it.\n"
                 "It approves sudo and su step-ups through the forwarded agent and signs with\n"
                 "ssh-keygen -Y; the stock ssh client cannot log in with it. A server allows it\n"
                 "with `AllowedApplications ssh:* %s` in skgate.conf, and an administrator\n"
                 "enrolls it with:\n"
                 "  skgatectl enroll --user USER --key-file %s.pub --name %s \\\n"
                 "      --attestation %s.attestation --challenge %s.challenge\n",
                 name.c_str(), reg->key.fingerprint().c_str(), reg->format.c_str(), kPasskeyRpId,
                 base.c_str(), name.c_str(), base.c_str(), base.c_str());
    return kExitOk;
}

}  // namespace

int cmd_generate(const Args& args) {
    ArgParser a({"--name", "--application", "--timeout", "--device"},
                {"--verify-required", "--ed25519", "--passkey"});
    if (auto st = a.parse(args);
        !st || !a.positional().empty() || !a.value("--name") ||
        (a.flag("--passkey") &&
         (a.value("--application") || a.value("--device") || a.flag("--ed25519")))) {
        std::fputs(kGenerateUsage, stderr);
        return kExitUsage;
    }
    std::string name = *a.value("--name");
    AgentPaths paths = AgentPaths::from_environment();
    if (auto st = check_new_key_name(paths, name); !st)
        return fail("generate", st.error().message);
    std::string app = a.value("--application").value_or("ssh:");
    auto timeout = a.integer("--timeout", 1, 3600, 120);
    if (!timeout) {
        std::fprintf(stderr, "skgate-agent: generate: %s\n", timeout.error().message.c_str());
        return kExitUsage;
    }
    const int timeout_s = static_cast<int>(*timeout);
    if (a.flag("--passkey"))
        return generate_passkey(paths, name, a.flag("--verify-required"), timeout_s);
    // The key is made on one device and recorded as that device's: requests
    // for it go there and nowhere else.
    auto paired = load_pairings(paths);
    if (!paired)
        return fail("generate", paired.error().message);
    const PairingRecord* device = nullptr;
    if (auto named = a.value("--device")) {
        auto found = paired->named(*named);
        if (!found)
            return fail("generate", found.error().message);
        device = *found;
    } else if (paired->records.size() == 1) {
        device = &paired->records.front();
    } else if (paired->empty()) {
        return fail("generate", "no authenticator is paired (run `skgate-agent pair`)");
    } else {
        return fail("generate", "several authenticators are paired (" + paired->names() +
                                    "): name the one to make the key on with --device");
    }
    auto agent = connect_agent(paths, timeout_s * 1000 + kAgentMarginMs);
    if (!agent)
        return fail("generate", agent.error().message);
    auto challenge = random_bytes(32);
    if (!challenge)
        return fail("generate", challenge.error().message);
    Sha256 hash = sha256(*challenge);
    RegisterRequest req;
    req.application = app;
    req.algorithm = a.flag("--ed25519") ? KeyAlgorithm::sk_ed25519 : KeyAlgorithm::sk_ecdsa_p256;
    req.client_data_hash.assign(hash.begin(), hash.end());
    req.options = a.flag("--verify-required") ? kLinkRequireUV : 0;
    req.name = name;
    if (auto valid = RegisterRequest::from_fields(req.to_fields()); !valid)
        return fail("generate", valid.error().message);
    std::printf("Approve the new key '%s' on '%s'...\n", name.c_str(), device->device_name.c_str());
    std::fflush(stdout);
    WireWriter w;
    w.put_string(req.to_fields().encode());
    w.put_string(device->device_id);
    auto answer = agent->extension(kExtRegister, w.bytes());
    if (!answer)
        return fail("generate", answer.error().message);
    WireReader r(*answer);
    auto body = r.read_string();
    auto fields = body ? CborFields::parse(*body) : Result<CborFields>(body.error());
    auto resp =
        fields ? RegisterResponse::from_fields(*fields) : Result<RegisterResponse>(fields.error());
    if (!resp)
        return fail("generate", "malformed answer from the agent: " + resp.error().message);
    if (resp->status != LinkStatus::ok)
        return fail("generate", std::string(link_status_text(resp->status)) +
                                    (resp->reason.empty() ? "" : " (" + resp->reason + ")"));
    auto auth_data = AuthenticatorData::parse(resp->auth_data);
    if (!auth_data || !auth_data->credential)
        return fail("generate", "the authenticator's data has no credential");
    Sha256 rp = sha256(as_bytes(app));
    if (!equal_bytes(auth_data->rp_id_hash, rp) ||
        !equal_bytes(auth_data->credential->credential_id, resp->key_handle))
        return fail("generate", "the authenticator answered for another application or key");
    auto key = credential_key(*auth_data->credential, app);
    if (!key)
        return fail("generate", key.error().message);
    SkAttestation att;
    att.signature = resp->signature;
    att.auth_data = resp->auth_data;
    auto verified = verify_attestation(att, *key, *challenge);
    if (!verified)
        return fail("generate", "the attestation does not verify: " + verified.error().message);
    // skgate's authenticators always sign their attestation: one that does
    // not has not shown it holds the key.
    if (verified->format == "none")
        return fail("generate", "the authenticator did not sign the new key's attestation");
    if (a.flag("--verify-required") && !verified->user_verified)
        return fail("generate", "the authenticator did not verify the user");
    AgentKey k{name, *key, resp->key_handle, a.flag("--verify-required"), device->device_id};
    if (auto st = save_key(paths, k, att.serialize(), *challenge); !st)
        return fail("generate", st.error().message);
    std::string base = paths.keys() + "/" + name;
    std::printf("%s skgate:%s\n", key->to_text().c_str(), name.c_str());
    std::fprintf(stderr,
                 "\nKey '%s' (%s) is on '%s'; this machine keeps only its handle.\n"
                 "Public key: %s.pub\nAn administrator enrolls it on a server with:\n"
                 "  skgatectl enroll --user USER --key-file %s.pub --name %s \\\n"
                 "      --attestation %s.attestation --challenge %s.challenge\n",
                 name.c_str(), key->fingerprint().c_str(), device->device_name.c_str(),
                 base.c_str(), base.c_str(), name.c_str(), base.c_str(), base.c_str());
    return kExitOk;
}

int cmd_list(const Args& args) {
    if (!args.empty()) {
        std::fputs(kListUsage, stderr);
        return kExitUsage;
    }
    AgentPaths paths = AgentPaths::from_environment();
    auto keys = load_keys(paths);
    if (!keys)
        return fail("list", keys.error().message);
    if (keys->empty())
        std::printf("No keys yet: `skgate-agent generate --name NAME` makes one.\n");
    // Which device holds each key: the one to keep, or to revoke when lost.
    auto paired = load_pairings(paths);
    if (!paired)
        std::fprintf(stderr, "skgate-agent: list: %s\n", paired.error().message.c_str());
    for (const auto& k : *keys) {
        const PairingRecord* device = paired ? paired->recorded_for(k) : nullptr;
        std::string on = k.passkey ? "a passkey, approved in your browser"
                         : device  ? "on '" + device->device_name + "'"
                                   : "made on a device no longer paired";
        std::printf("%-16s %s %s%s %s\n", k.name.c_str(), k.key.fingerprint().c_str(),
                    std::string(k.key.type_name()).c_str(),
                    k.verify_required ? " verify-required" : "", on.c_str());
    }
    return kExitOk;
}

int cmd_status(const Args& args) {
    if (!args.empty()) {
        std::fputs(kStatusUsage, stderr);
        return kExitUsage;
    }
    AgentPaths paths = AgentPaths::from_environment();
    auto paired = load_pairings(paths);
    if (!paired)
        std::printf("paired device: error: %s\n", paired.error().message.c_str());
    else if (paired->empty())
        std::printf("paired device: none (run `skgate-agent pair`)\n");
    else if (paired->records.size() == 1)
        std::printf("paired device: %s\n", paired->records.front().device_name.c_str());
    else
        std::printf("paired devices: %s\n", paired->names().c_str());
    auto keys = load_keys(paths);
    std::printf("keys: %s\n",
                keys ? std::to_string(keys->size()).c_str() : keys.error().message.c_str());
    auto agent = AgentClient::connect(paths.socket(), geteuid(), kAgentStatusTimeoutMs);
    if (!agent) {
        std::printf("agent: not running at %s\n", paths.socket().c_str());
        return kExitFailure;
    }
    auto st = agent->extension(kExtStatus, {});
    WireReader r(st ? ByteView(*st) : ByteView{});
    auto text = r.read_string();
    std::printf("agent: running at %s\nauthenticator: %s\n", paths.socket().c_str(),
                text ? std::string(as_chars(*text)).c_str() : "unknown");
    return kExitOk;
}

}  // namespace skgate::agent

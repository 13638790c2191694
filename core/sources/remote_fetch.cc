#include "core/sources/remote_fetch.h"

#include "core/sys/monotonic.h"
#include "core/sys/safefile.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

constexpr size_t kMaxTokenBytes = 4096;
constexpr const char* kTokenLifetime = "X-Metadata-Token-Expiry-Seconds: 60";

// 401 and 403 refuse skgate's credentials: a refusal to report, not an
// outage to bridge with cached keys.
Status check_status(const HttpResponse& r, const std::string& what) {
    if (r.status == 200)
        return {};
    const std::string said = what + " answered HTTP " + std::to_string(r.status);
    if (r.status == 401 || r.status == 403)
        return make_error(ErrorCode::permission, said + ": it refused skgate's credentials");
    return make_error(ErrorCode::unavailable, said + " (expected 200)");
}

// A token goes back into a header: nothing but visible ASCII.
Status check_token(std::string_view token, const char* what) {
    if (token.empty() || token.size() > kMaxTokenBytes)
        return invalid(std::string(what) + " is empty or longer than " +
                       std::to_string(kMaxTokenBytes) + " bytes");
    for (char c : token) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f)
            return invalid(std::string(what) + " contains spaces, control or non-ASCII characters");
    }
    return {};
}

long remaining_ms(uint64_t deadline_us) {
    uint64_t now = monotonic_us();
    return now >= deadline_us ? 1 : static_cast<long>((deadline_us - now) / 1000 + 1);
}

}  // namespace

std::string expand_url_user(const std::string& url_template, const std::string& user) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string encoded;
    for (char ch : user) {
        auto c = static_cast<unsigned char>(ch);
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
        if (plain) {
            encoded += static_cast<char>(c);
        } else {
            encoded += '%';
            encoded += kHex[c >> 4];
            encoded += kHex[c & 15];
        }
    }
    std::string out;
    for (size_t i = 0; i < url_template.size(); i++) {
        if (url_template[i] == '%' && i + 1 < url_template.size() && url_template[i + 1] == 'u') {
            out += encoded;
            i++;
        } else {
            out += url_template[i];
        }
    }
    return out;
}

std::vector<std::string> metadata_names_for(const RemoteSettings& s, const std::string& user) {
    std::vector<std::string> names;
    if (user != "root" || s.metadata_root_user == "root")
        names.push_back(user);
    if (user != "root" && s.metadata_root_user == user)
        names.push_back("root");
    return names;
}

Result<RemoteKeys> fetch_metadata_keys(HttpSession& http, const RemoteSettings& s,
                                       const std::string& user, long timeout_ms) {
    uint64_t deadline = monotonic_us() + static_cast<uint64_t>(timeout_ms) * 1000;
    HttpResponse answer;
    // A token can expire early (the service restarted, a clock step): one
    // more try with a new token, inside the same budget, before the source
    // counts as refusing.
    for (int attempt = 0;; attempt++) {
        HttpRequest token_req{
            .method = "PUT", .url = s.metadata_url + "/v1/token", .headers = {kTokenLifetime}};
        SKGATE_TRY(token, http.perform(token_req, remaining_ms(deadline), kMaxTokenBytes));
        SKGATE_CHECK(check_status(token, "metadata service (PUT /v1/token)"));
        std::string_view t = trim(token.body);
        if (auto st = check_token(t, "metadata token"); !st)
            return make_error(ErrorCode::invalid, st.error().message);

        HttpRequest keys_req{
            .method = "GET",
            .url = s.metadata_url + "/v1/ssh-keys",
            .headers = {"X-Metadata-Token: " + std::string(t), "Accept: application/json"}};
        SKGATE_TRY(got, http.perform(keys_req, remaining_ms(deadline), kMaxRemoteDocumentBytes));
        if (got.status == 401 && attempt == 0)
            continue;
        SKGATE_CHECK(check_status(got, "metadata service (GET /v1/ssh-keys)"));
        answer = std::move(got);
        break;
    }
    RemoteKeys out;
    for (const auto& name : metadata_names_for(s, user)) {
        SKGATE_TRY(part, parse_metadata_ssh_keys(answer.body, name));
        for (auto& k : part.keys)
            out.keys.push_back(std::move(k));
        out.refused.insert(out.refused.end(), part.refused.begin(), part.refused.end());
    }
    // root's keys merged in (MetadataRootUser) count too: too many is the
    // whole answer refused, as for every source, never an arbitrary 64.
    if (out.keys.size() > kMaxRemoteKeysPerUser)
        return invalid("the metadata service lists " + std::to_string(out.keys.size()) +
                       " keys for " + user + " (with MetadataRootUser's); at most " +
                       std::to_string(kMaxRemoteKeysPerUser) + " are accepted");
    return out;
}

Result<RemoteKeys> fetch_http_keys(HttpSession& http, const RemoteSettings& s,
                                   const std::string& user, const std::string& bearer_token,
                                   long timeout_ms) {
    HttpRequest req{.method = "GET",
                    .url = expand_url_user(s.http_keys_url, user),
                    .headers = {"Accept: application/json"},
                    .ca_file = s.http_ca_file,
                    .ca_setting = "HttpCAFile"};
    if (!bearer_token.empty()) {
        SKGATE_CHECK(check_bearer_token(bearer_token));
        req.headers.push_back("Authorization: Bearer " + bearer_token);
    }
    SKGATE_TRY(answer, http.perform(req, timeout_ms, kMaxRemoteDocumentBytes));
    if (answer.status == 404)
        return RemoteKeys{};
    SKGATE_CHECK(check_status(answer, "key service"));
    return parse_http_keys(answer.body);
}

Status check_bearer_token(std::string_view token) {
    return check_token(token, "HttpBearerTokenFile");
}

Result<std::string> read_secret_file(const std::string& path, const char* what) {
    // Owned by root and not readable by others; group read is how the
    // skgate account (skgate-keys' user) gets it: root:skgate 0640.
    FileRules rules;
    rules.max_bytes = kMaxTokenBytes;
    rules.not_for_others = true;
    auto text = read_trusted_file(path, rules);
    if (!text)
        return text.error().context(what);
    std::string_view line = *text;
    if (size_t nl = line.find('\n'); nl != std::string_view::npos)
        line = line.substr(0, nl);
    if (line.empty() || has_control_chars(line))
        return invalid(std::string(what) + ": " + path +
                       ": the first line must hold the secret, without control characters");
    return std::string(line);
}

}  // namespace skgate

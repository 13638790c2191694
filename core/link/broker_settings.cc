#include "core/link/broker_settings.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/link/channel.h"
#include "core/link/channel_crypto.h"
#include "core/sys/safefile.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

constexpr size_t kMaxBrokerLine = 1024;
constexpr size_t kMaxBrokerPassword = 1024;

bool is_topic_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

Status check_topic(std::string_view topic, std::string_view address) {
    if (topic.size() < kMinBrokerTopic || topic.size() > kMaxBrokerTopic)
        return invalid("broker address '" + std::string(address) + "': the topic must be " +
                       std::to_string(kMinBrokerTopic) + " to " + std::to_string(kMaxBrokerTopic) +
                       " characters (`skgate-agent pair --broker` makes a random one)");
    for (char c : topic)
        if (!is_topic_char(c))
            return invalid("broker address '" + std::string(address) +
                           "': the topic may hold only letters, digits, '-' and '_'");
    return {};
}

}  // namespace

bool is_broker_address(std::string_view address) {
    return address.substr(0, kBrokerScheme.size()) == kBrokerScheme;
}

Result<BrokerAddress> BrokerAddress::parse(std::string_view address) {
    if (!is_broker_address(address))
        return invalid("'" + std::string(address) + "' is not of the form mqtts:HOST:PORT/TOPIC");
    std::string_view rest = address.substr(kBrokerScheme.size());
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos)
        return invalid("broker address '" + std::string(address) +
                       "' names no topic (mqtts:HOST:PORT/TOPIC)");
    SKGATE_TRY(hp, parse_host_port(rest.substr(0, slash), address, "mqtts"));
    std::string_view topic = rest.substr(slash + 1);
    SKGATE_CHECK(check_topic(topic, address));
    BrokerAddress a;
    a.host = hp.host;
    a.port = static_cast<int>(std::stoi(hp.port));
    a.topic = std::string(topic);
    return a;
}

std::string BrokerAddress::format() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return std::string(kBrokerScheme) + h + ":" + std::to_string(port) + "/" + topic;
}

BrokerAddress BrokerAddress::with_topic(std::string t) const {
    BrokerAddress a = *this;
    a.topic = std::move(t);
    return a;
}

Result<std::string> BrokerAddress::random_topic() {
    SKGATE_TRY(raw, random_bytes(16));
    return hex_encode(raw);
}

std::string BrokerAddress::upstream(std::string_view conn) const {
    return "skgate/" + topic + "/u/" + std::string(conn);
}
std::string BrokerAddress::downstream(std::string_view conn) const {
    return "skgate/" + topic + "/d/" + std::string(conn);
}
std::string BrokerAddress::upstream_filter() const {
    return "skgate/" + topic + "/u/+";
}
std::string BrokerAddress::goodbye() const {
    return "skgate/" + topic + "/g";
}

BrokerSettings::~BrokerSettings() {
    if (!password.empty())
        OPENSSL_cleanse(password.data(), password.size());
}

Result<BrokerSettings> BrokerSettings::parse(std::string_view text, const std::string& origin) {
    if (text.size() > kMaxBrokerSettingsBytes)
        return invalid(origin + ": larger than " + std::to_string(kMaxBrokerSettingsBytes) +
                       " bytes");
    BrokerSettings s;
    size_t line_no = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        line_no++;
        const std::string where = origin + ":" + std::to_string(line_no);
        if (line.size() > kMaxBrokerLine)
            return invalid(where + ": the line is longer than " + std::to_string(kMaxBrokerLine) +
                           " bytes");
        for (char c : line)
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
                return invalid(where + ": the line holds a control character");
        line = trim(line);
        if (line.empty() || line[0] == '#')
            continue;
        auto words = split_whitespace(line);
        if (words.size() != 2)
            return invalid(where + ": expected KEYWORD VALUE (ca, cert, key, user, " +
                           "password-file), got '" + printable(line) + "'");
        const std::string& key = words[0];
        const std::string& value = words[1];
        std::string* slot = nullptr;
        if (key == "ca")
            slot = &s.ca_file;
        else if (key == "cert")
            slot = &s.cert_file;
        else if (key == "key")
            slot = &s.key_file;
        else if (key == "user")
            slot = &s.user;
        else if (key == "password-file")
            slot = &s.password_file_;
        else
            return invalid(where + ": unknown keyword '" + printable(key) +
                           "' (ca, cert, key, user, password-file)");
        if (!slot->empty())
            return invalid(where + ": '" + key + "' is given twice");
        if (key != "user" && value[0] != '/')
            return invalid(where + ": '" + key + "' needs an absolute path, not '" +
                           printable(value) + "'");
        *slot = value;
    }
    if (s.cert_file.empty() != s.key_file.empty())
        return invalid(origin +
                       ": 'cert' and 'key' go together (a client certificate and its key)");
    if (!s.password_file_.empty() && s.user.empty())
        return invalid(origin + ": 'password-file' needs 'user'");
    return s;
}

namespace {

// libmosquitto opens these itself, later: checked here, they are the
// user's (or root's) and nobody else can swap them, and the key nobody
// else can read. A CA others could write would let them vouch for any
// broker. Certificates may be symbolic links (update-ca-certificates
// makes them): the file they lead to is checked, and that path is what
// libmosquitto gets, so a link changed later changes nothing.
Status check_tls_files(BrokerSettings& s, const std::string& origin) {
    FileRules trusted;
    trusted.owner = geteuid();
    trusted.max_bytes = kMaxBrokerTlsFileBytes;
    for (auto [keyword, file] : {std::pair{"ca", &s.ca_file}, {"cert", &s.cert_file}}) {
        if (file->empty())
            continue;
        char* real = realpath(file->c_str(), nullptr);
        if (!real)
            return make_error(errno == ENOENT ? ErrorCode::not_found : ErrorCode::io,
                              origin + ": " + keyword + ": " + *file + ": " + std::strerror(errno));
        std::string resolved(real);
        std::free(real);
        if (auto r = read_trusted_file(resolved, trusted); !r)
            return r.error().context(origin + ": " + keyword);
        *file = resolved;
    }
    if (!s.key_file.empty()) {
        auto key = read_trusted_file(s.key_file, FileRules::own_secret(kMaxBrokerTlsFileBytes));
        if (!key)
            return key.error().context(origin + ": key");
        OPENSSL_cleanse(key->data(), key->size());
    }
    return {};
}

}  // namespace

Result<BrokerSettings> BrokerSettings::load(const std::string& path) {
    FileRules rules;
    rules.owner = geteuid();
    rules.max_bytes = kMaxBrokerSettingsBytes;
    rules.check_directories = false;
    auto text = read_trusted_file(path, rules);
    if (!text) {
        if (text.error().code == ErrorCode::not_found)
            return BrokerSettings{};
        return text.error();
    }
    SKGATE_TRY(s, parse(*text, path));
    SKGATE_CHECK(check_tls_files(s, path));
    if (!s.password_file_.empty()) {
        auto pw = read_trusted_file(s.password_file_, FileRules::own_secret(kMaxBrokerPassword));
        if (!pw)
            return pw.error().context(path + ": password-file");
        std::string_view line = *pw;
        if (size_t nl = line.find('\n'); nl != std::string_view::npos)
            line = line.substr(0, nl);
        if (line.empty() || has_control_chars(line))
            return invalid(path + ": password-file " + s.password_file_ +
                           ": the first line must hold the password, without control characters");
        s.password = std::string(line);
        OPENSSL_cleanse(pw->data(), pw->size());
    }
    return s;
}

}  // namespace skgate

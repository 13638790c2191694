#include "core/store/keystore.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "core/ssh/authkeys.h"
#include "core/sys/atomicfile.h"
#include "core/sys/safefile.h"
#include "core/sys/text.h"
#include "core/sys/timeutil.h"
#include "core/sys/username.h"

namespace skgate {

namespace {

constexpr const char* kHeader =
    "# skgate key store: written by skgatectl (enroll, revoke); do not edit by hand.\n";

Result<StoredKey> from_entry(AuthorizedKey entry) {
    StoredKey k{.key = std::move(entry.key), .comment = std::move(entry.comment)};
    bool have_enrolled = false;
    for (const auto& opt : entry.options) {
        const std::string& n = opt.name;
        bool flag = !opt.value.has_value();
        if (n == "uv" && flag) {
            k.uv = true;
        } else if (n == "chained" && flag) {
            k.chained = true;
        } else if (n == "enrolled" && !flag) {
            SKGATE_TRY(t, parse_iso8601(*opt.value));
            k.enrolled = t;
            have_enrolled = true;
        } else if (n == "expires" && !flag) {
            SKGATE_TRY(t, parse_iso8601(*opt.value));
            k.expires = t;
        } else if (n == "name" && !flag) {
            k.name = *opt.value;
        } else if (n == "aaguid" && !flag) {
            k.aaguid = *opt.value;
        } else if (n == "attestation" && !flag) {
            k.attestation = *opt.value;
        } else {
            return invalid("unknown store attribute \"" + printable(n) + "\"");
        }
    }
    if (!have_enrolled)
        return invalid("missing enrolled=\"...\" attribute");
    return k;
}

}  // namespace

StoreFile parse_store(std::string_view text, const std::string& filename) {
    StoreFile out;
    size_t lineno = 0, pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line =
            text.substr(pos, nl == std::string_view::npos ? text.size() - pos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        lineno++;
        if (is_blank_or_comment(line))
            continue;
        auto entry = parse_authorized_key(line);
        Result<StoredKey> key =
            entry ? from_entry(std::move(*entry)) : Result<StoredKey>(entry.error());
        if (!key) {
            out.warnings.push_back(filename + ":" + std::to_string(lineno) + ": " +
                                   key.error().message);
            continue;
        }
        out.keys.push_back(std::move(*key));
    }
    return out;
}

Result<std::string> format_stored_key(const StoredKey& k) {
    AuthorizedKey e{{}, k.key, k.comment};
    e.options.push_back({"enrolled", format_iso8601(k.enrolled)});
    if (k.expires)
        e.options.push_back({"expires", format_iso8601(*k.expires)});
    if (!k.name.empty())
        e.options.push_back({"name", k.name});
    if (!k.aaguid.empty())
        e.options.push_back({"aaguid", k.aaguid});
    if (!k.attestation.empty())
        e.options.push_back({"attestation", k.attestation});
    if (k.uv)
        e.options.push_back({"uv", std::nullopt});
    if (k.chained)
        e.options.push_back({"chained", std::nullopt});
    return format_authorized_key(e);
}

Result<std::string> KeyStore::path_for(const std::string& user) const {
    SKGATE_CHECK(validate_username(user));
    return dir_ + "/" + user;
}

Result<StoreFile> KeyStore::load(const std::string& user) const {
    SKGATE_TRY(path, path_for(user));
    FileRules rules;
    rules.max_bytes = kMaxStoreFileBytes;
    auto text = read_trusted_file(path, rules);
    if (!text) {
        if (text.error().code == ErrorCode::not_found)
            return StoreFile{};
        return text.error();
    }
    return parse_store(*text, path);
}

Status KeyStore::add(const std::string& user, const StoredKey& key) {
    SKGATE_TRY(path, path_for(user));
    SKGATE_CHECK(ensure_directory(dir_, {0, 0, 0755}));
    SKGATE_TRY(lock, FileLock::acquire(dir_ + "/.lock"));
    SKGATE_TRY(current, load(user));
    for (const auto& k : current.keys) {
        if (k.key.same_key(key.key))
            return invalid("key " + key.key.fingerprint() + " is already enrolled for " + user +
                           (k.name.empty() ? "" : " as \"" + k.name + "\""));
    }
    SKGATE_TRY(line, format_stored_key(key));
    // Rewrite from the parsed entries plus the new one; lines that did not
    // parse are kept verbatim so an enroll never destroys evidence.
    FileRules rules;
    rules.max_bytes = kMaxStoreFileBytes;
    auto old = read_trusted_file(path, rules);
    std::string content = old ? *old : std::string(kHeader);
    if (!content.empty() && content.back() != '\n')
        content += '\n';
    content += line + "\n";
    return write_file_atomic(path, content, {0, 0, 0644});
}

Result<StoredKey> KeyStore::remove(const std::string& user, const std::string& fingerprint) {
    SKGATE_TRY(path, path_for(user));
    // No store yet: nothing is enrolled, and revoke still records the key.
    struct stat dir_st {};
    if (lstat(dir_.c_str(), &dir_st) != 0 && errno == ENOENT)
        return make_error(ErrorCode::not_found, user + " has no enrolled keys");
    SKGATE_TRY(lock, FileLock::acquire(dir_ + "/.lock"));
    FileRules rules;
    rules.max_bytes = kMaxStoreFileBytes;
    auto text = read_trusted_file(path, rules);
    if (!text) {
        if (text.error().code == ErrorCode::not_found)
            return make_error(ErrorCode::not_found, user + " has no enrolled keys");
        return text.error();
    }
    std::string kept;
    std::optional<StoredKey> removed;
    size_t pos = 0;
    while (pos < text->size()) {
        size_t nl = text->find('\n', pos);
        std::string line =
            text->substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        pos = nl == std::string::npos ? text->size() : nl + 1;
        if (!is_blank_or_comment(line)) {
            StoreFile one = parse_store(line, path);
            if (!one.keys.empty() && one.keys[0].key.fingerprint() == fingerprint) {
                removed = one.keys[0];
                continue;
            }
        }
        kept += line + "\n";
    }
    if (!removed)
        return make_error(ErrorCode::not_found,
                          "no key " + fingerprint + " is enrolled for " + user);
    SKGATE_CHECK(write_file_atomic(path, kept, {0, 0, 0644}));
    return *removed;
}

Result<std::vector<std::string>> KeyStore::users() const {
    DIR* d = opendir(dir_.c_str());
    if (!d) {
        if (errno == ENOENT)
            return std::vector<std::string>{};
        return make_error(ErrorCode::io, "cannot read directory " + dir_);
    }
    std::vector<std::string> out;
    while (dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n.empty() || n[0] == '.' || n.find(".tmp.") != std::string::npos)
            continue;
        if (validate_username(n).ok())
            out.push_back(n);
    }
    closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace skgate

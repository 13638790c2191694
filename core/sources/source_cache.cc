#include "core/sources/source_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/sys/atomicfile.h"
#include "core/sys/safefile.h"
#include "core/sys/text.h"
#include "core/sys/username.h"

namespace skgate {

namespace {

constexpr std::string_view kHeader = "# skgate: last good answer of a key source; do not edit\n";
constexpr std::string_view kUnreachable = ".unreachable";
constexpr size_t kMaxCacheBytes = kMaxRemoteKeysPerUser * (kMaxRemoteKeyLineBytes + 64) + 4096;

Result<std::time_t> parse_time(std::string_view text) {
    if (text.empty() || text.size() > 12)
        return invalid("bad time \"" + printable(text) + "\"");
    std::time_t t = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return invalid("bad time \"" + printable(text) + "\"");
        t = t * 10 + (c - '0');
    }
    return t;
}

}  // namespace

Result<std::string> format_cached_keys(const CachedKeys& keys) {
    std::string out(kHeader);
    out += "fetched " + std::to_string(keys.fetched) + "\n";
    for (const auto& k : keys.keys) {
        SKGATE_TRY(line, format_authorized_key({{}, k.entry.key, k.entry.comment}));
        out += "key " + (k.expires ? std::to_string(*k.expires) : std::string("-")) + " " + line +
               "\n";
    }
    return out;
}

Result<CachedKeys> parse_cached_keys(std::string_view text) {
    if (text.size() > kMaxCacheBytes)
        return invalid("cache file larger than " + std::to_string(kMaxCacheBytes) + " bytes");
    if (text.substr(0, kHeader.size()) != kHeader)
        return invalid("not a skgate cache file (header missing)");
    CachedKeys out;
    bool have_time = false;
    size_t lineno = 1, pos = kHeader.size();
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos)
            return invalid("line " + std::to_string(lineno + 1) + ": truncated (no newline)");
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        lineno++;
        auto where = [&](const std::string& msg) {
            return invalid("line " + std::to_string(lineno) + ": " + msg);
        };
        if (!have_time) {
            if (line.substr(0, 8) != "fetched ")
                return where("expected \"fetched TIME\"");
            auto t = parse_time(line.substr(8));
            if (!t)
                return where(t.error().message);
            out.fetched = *t;
            have_time = true;
            continue;
        }
        if (line.substr(0, 4) != "key ")
            return where("expected \"key EXPIRES KEY\"");
        line.remove_prefix(4);
        size_t sp = line.find(' ');
        if (sp == std::string_view::npos)
            return where("expected \"key EXPIRES KEY\"");
        std::optional<std::time_t> expires;
        if (line.substr(0, sp) != "-") {
            auto t = parse_time(line.substr(0, sp));
            if (!t)
                return where(t.error().message);
            expires = *t;
        }
        auto entry = parse_remote_key_line(line.substr(sp + 1));
        if (!entry)
            return where(entry.error().message);
        if (out.keys.size() >= kMaxRemoteKeysPerUser)
            return where("more than " + std::to_string(kMaxRemoteKeysPerUser) + " keys");
        out.keys.push_back({std::move(*entry), expires, "cache line " + std::to_string(lineno)});
    }
    if (!have_time)
        return invalid("no \"fetched\" line");
    return out;
}

Result<uid_t> SourceCache::directory_owner() const {
    struct stat st {};
    if (lstat(dir_.c_str(), &st) != 0) {
        if (errno == ENOENT)
            return make_error(ErrorCode::not_found,
                              dir_ + " does not exist (the packages create it, owned by skgate)");
        return make_error(ErrorCode::io, "cannot stat " + dir_ + ": " + std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return make_error(ErrorCode::permission, dir_ + " is not a directory");
    if (st.st_mode & 022)
        return make_error(ErrorCode::permission,
                          dir_ + " is writable by group or others; fix with: chmod 0700 " + dir_);
    return st.st_uid;
}

Result<std::string> SourceCache::source_directory(KeySource source, bool create) const {
    SKGATE_TRY(owner, directory_owner());
    std::string dir = dir_ + "/" + std::string(to_string(source));
    if (create) {
        // root (pam_skgate, skgatectl) creates it for the directory's owner.
        FileOwner fo{geteuid() == 0 ? owner : geteuid(), geteuid() == 0 ? gid_t(0) : getegid(),
                     0755};
        SKGATE_CHECK(ensure_directory(dir, fo));
    }
    return dir;
}

Result<CachedKeys> SourceCache::load(KeySource source, const std::string& user) const {
    SKGATE_CHECK(validate_username(user));
    SKGATE_TRY(owner, directory_owner());
    std::string path = dir_ + "/" + std::string(to_string(source)) + "/" + user;
    FileRules rules;
    rules.owner = owner;
    rules.max_bytes = kMaxCacheBytes;
    SKGATE_TRY(text, read_trusted_file(path, rules));
    auto keys = parse_cached_keys(text);
    if (!keys)
        return keys.error().context(path);
    return keys;
}

Status SourceCache::store(KeySource source, const std::string& user, const CachedKeys& keys) const {
    SKGATE_CHECK(validate_username(user));
    SKGATE_TRY(dir, source_directory(source, true));
    SKGATE_TRY(text, format_cached_keys(keys));
    return write_file_atomic(dir + "/" + user, text, FileOwner::self(0644));
}

Status SourceCache::forget(KeySource source, const std::string& user) const {
    SKGATE_CHECK(validate_username(user));
    std::string path = dir_ + "/" + std::string(to_string(source)) + "/" + user;
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
        return make_error(ErrorCode::io, "cannot remove " + path + ": " + std::strerror(errno));
    return {};
}

Status SourceCache::note_unreachable(KeySource source, const std::string& reason,
                                     std::time_t now) const {
    SKGATE_TRY(dir, source_directory(source, true));
    std::string text = std::to_string(now) + " " + printable(reason, 200) + "\n";
    return write_file_atomic(dir + "/" + std::string(kUnreachable), text, FileOwner::self(0644));
}

std::optional<std::string> SourceCache::recently_unreachable(KeySource source,
                                                             std::time_t now) const {
    auto owner = directory_owner();
    if (!owner)
        return std::nullopt;
    FileRules rules;
    rules.owner = *owner;
    rules.max_bytes = 4096;
    auto text = read_trusted_file(
        dir_ + "/" + std::string(to_string(source)) + "/" + std::string(kUnreachable), rules);
    if (!text)
        return std::nullopt;
    std::string_view t = trim(*text);
    size_t sp = t.find(' ');
    auto when = parse_time(t.substr(0, sp));
    if (!when || sp == std::string_view::npos)
        return std::nullopt;
    // A time in the future (a clock step) counts as long ago.
    if (*when > now || now - *when >= kSourceRetryAfterSeconds)
        return std::nullopt;
    return std::string(t.substr(sp + 1));
}

std::vector<std::string> SourceCache::users() const {
    std::vector<std::string> out;
    for (KeySource s :
         {KeySource::metadata, KeySource::http, KeySource::ldap, KeySource::command}) {
        std::string dir = dir_ + "/" + std::string(to_string(s));
        DIR* d = opendir(dir.c_str());
        if (!d)
            continue;
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name;
            // Dot files are markers; ".tmp." names are atomic writes in flight.
            if (name.empty() || name[0] == '.' || name.find(".tmp.") != std::string::npos ||
                !validate_username(name).ok())
                continue;
            if (std::find(out.begin(), out.end(), name) == out.end())
                out.push_back(name);
        }
        closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

Status SourceCache::clear_unreachable(KeySource source) const {
    std::string path =
        dir_ + "/" + std::string(to_string(source)) + "/" + std::string(kUnreachable);
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
        return make_error(ErrorCode::io, "cannot remove " + path + ": " + std::strerror(errno));
    return {};
}

}  // namespace skgate

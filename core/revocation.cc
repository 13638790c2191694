#include "core/revocation.h"

#include "core/atomicfile.h"
#include "core/authkeys.h"
#include "core/base64.h"
#include "core/safefile.h"
#include "core/text.h"

namespace skgate {

namespace {

constexpr size_t kMaxRevokedBytes = 8 * 1024 * 1024;

bool is_fingerprint(std::string_view s) {
    // "SHA256:" + 43 unpadded base64 characters
    if (s.size() != 50 || !s.starts_with("SHA256:"))
        return false;
    auto decoded = base64_decode(std::string(s.substr(7)) + "=");
    return decoded.ok() && decoded->size() == 32;
}

std::string dir_of(const std::string& path) {
    size_t slash = path.find_last_of('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Result<RevocationList> RevocationList::parse(std::string_view text, const std::string& filename) {
    RevocationList out;
    size_t lineno = 0, pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line =
            trim(text.substr(pos, nl == std::string_view::npos ? text.size() - pos : nl - pos));
        pos = nl == std::string_view::npos ? text.size() : nl + 1;
        lineno++;
        if (line.empty() || line.front() == '#')
            continue;
        if (is_fingerprint(line)) {
            out.fingerprints_.insert(std::string(line));
            continue;
        }
        auto entry = parse_authorized_key(line);
        if (!entry)
            return invalid(filename + ":" + std::to_string(lineno) + ": " + entry.error().message +
                           " (expected a public key or a SHA256: fingerprint)");
        out.fingerprints_.insert(entry->key.fingerprint());
    }
    return out;
}

Result<RevocationList> RevocationList::load(const std::string& path) {
    FileRules rules;
    rules.max_bytes = kMaxRevokedBytes;
    auto text = read_trusted_file(path, rules);
    if (!text) {
        if (text.error().code == ErrorCode::not_found)
            return RevocationList{};
        return text.error();
    }
    return parse(*text, path);
}

namespace {

// Appends `line` unless `fingerprint` is already revoked; locked and atomic.
Status append_line(const std::string& path, const std::string& fingerprint,
                   const std::string& line) {
    SKGATE_TRY(lock, FileLock::acquire(dir_of(path) + "/.revoked.lock"));
    FileRules rules;
    rules.max_bytes = kMaxRevokedBytes;
    auto text = read_trusted_file(path, rules);
    std::string content;
    if (text) {
        SKGATE_TRY(current, RevocationList::parse(*text, path));
        if (current.is_revoked(fingerprint))
            return {};
        content = *text;
        if (!content.empty() && content.back() != '\n')
            content += '\n';
    } else if (text.error().code == ErrorCode::not_found) {
        content = "# Revoked keys: never accepted by skgate (also valid as sshd RevokedKeys).\n";
    } else {
        return text.error();
    }
    content += line + "\n";
    return write_file_atomic(path, content, {0, 0, 0644});
}

}  // namespace

bool RevocationList::is_fingerprint(std::string_view text) {
    return skgate::is_fingerprint(text);
}

Status RevocationList::append(const std::string& path, const PublicKey& key,
                              const std::string& comment) {
    SKGATE_TRY(line, format_authorized_key({{}, key, comment}));
    return append_line(path, key.fingerprint(), line);
}

Status RevocationList::append_fingerprint(const std::string& path, const std::string& fingerprint) {
    if (!is_fingerprint(fingerprint))
        return invalid("\"" + printable(fingerprint) + "\" is not a SHA256: fingerprint");
    return append_line(path, fingerprint, fingerprint);
}

}  // namespace skgate

#include "core/store/revocation.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>

#include "core/ssh/authkeys.h"
#include "core/sys/atomicfile.h"
#include "core/sys/base64.h"
#include "core/sys/safefile.h"
#include "core/sys/text.h"

namespace skgate {

namespace {

// What the index records of the list it was made from; a missing list has
// a signature too, so that an index of "nothing" stays current until one
// is written.
std::string list_signature(const std::string& path) {
    struct stat st {};
    // lstat: the list itself is never read through a symbolic link.
    if (lstat(path.c_str(), &st) != 0)
        return "skgate index of " + path + ": no list";
    // ctime too: an in-place copy can keep the size and set the mtime back
    // (cp -p, rsync --inplace -t), but nothing sets the ctime.
    return "skgate index of " + path + ": device " + std::to_string(st.st_dev) + " inode " +
           std::to_string(st.st_ino) + " size " + std::to_string(st.st_size) + " mtime " +
           std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) +
           " ctime " + std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}

// "SHA256:" + 43 unpadded base64 characters: the 32-byte hash.
std::optional<Sha256> fingerprint_hash(std::string_view s) {
    if (s.size() != 50 || !s.starts_with("SHA256:"))
        return std::nullopt;
    auto decoded = base64_decode(std::string(s.substr(7)) + "=");
    if (!decoded || decoded->size() != 32)
        return std::nullopt;
    Sha256 h{};
    std::copy(decoded->begin(), decoded->end(), h.begin());
    return h;
}

bool is_fingerprint(std::string_view s) {
    return fingerprint_hash(s).has_value();
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
    // The index names the list it was made from (inode, size, mtime): a list
    // edited by hand since is read instead, whatever the clocks say.
    auto index = KrlIndex::open(krl_path_for(path));
    if (!index && index.error().code != ErrorCode::not_found)
        return index.error();
    if (index && index->comment() == list_signature(path)) {
        RevocationList out;
        out.index_ = std::move(*index);
        return out;
    }
    FileRules rules;
    rules.max_bytes = kMaxRevokedListBytes;
    auto text = read_trusted_file(path, rules);
    if (!text) {
        if (text.error().code == ErrorCode::not_found)
            return RevocationList{};
        return text.error();
    }
    return parse(*text, path);
}

namespace {

Status write_index(const std::string& path, const std::set<std::string>& fingerprints) {
    // A KRL of someone else's (ssh-keygen -k, with certificate sections)
    // is never overwritten: its revocations would be lost without a word.
    if (auto existing = KrlIndex::open(krl_path_for(path));
        !existing && existing.error().code == ErrorCode::invalid)
        return invalid(
            krl_path_for(path) + " is a KRL skgate did not write (" + existing.error().message +
            "): move it away, revoke its keys with skgatectl revoke, and run this again");
    std::vector<Sha256> hashes;
    hashes.reserve(fingerprints.size());
    for (const auto& fp : fingerprints) {
        auto h = fingerprint_hash(fp);
        if (!h)
            return invalid("bad fingerprint in the revocation list: " + printable(fp));
        hashes.push_back(*h);
    }
    uint64_t version = static_cast<uint64_t>(std::time(nullptr));
    Bytes krl = krl_encode(std::move(hashes), version, version, list_signature(path));
    return write_file_atomic(krl_path_for(path),
                             std::string(reinterpret_cast<const char*>(krl.data()), krl.size()),
                             {0, 0, 0644});
}

// The list's text, or empty when it does not exist.
Result<std::string> read_list(const std::string& path) {
    FileRules rules;
    rules.max_bytes = kMaxRevokedListBytes;
    auto text = read_trusted_file(path, rules);
    if (!text && text.error().code == ErrorCode::not_found)
        return std::string();
    return text;
}

// Appends `line` unless `fingerprint` is already revoked; locked and atomic,
// the list first, then its KRL (a crash between them leaves the list newer,
// which load() reads instead).
Status append_line(const std::string& path, const std::string& fingerprint,
                   const std::string& line) {
    SKGATE_TRY(lock, FileLock::acquire(dir_of(path) + "/.revoked.lock"));
    SKGATE_TRY(text, read_list(path));
    SKGATE_TRY(current, RevocationList::parse(text, path));
    std::set<std::string> fingerprints = current.fingerprints();
    if (fingerprints.count(fingerprint) == 0) {
        std::string content = text;
        if (content.empty())
            content =
                "# Revoked keys: never accepted by skgate. skgatectl revoke keeps this list "
                "and its index (the .krl beside it, sshd's RevokedKeys) together.\n";
        if (content.back() != '\n')
            content += '\n';
        content += line + "\n";
        if (content.size() > kMaxRevokedListBytes)
            return invalid(path + " would grow past " +
                           std::to_string(kMaxRevokedListBytes / (1024 * 1024)) +
                           " MiB: remove entries of keys that can no longer exist (deleted "
                           "accounts, expired keys) first; nothing was changed");
        SKGATE_CHECK(write_file_atomic(path, content, {0, 0, 0644}));
        fingerprints.insert(fingerprint);
    }
    return write_index(path, fingerprints);
}

}  // namespace

std::string krl_path_for(const std::string& revoked_list) {
    return revoked_list + ".krl";
}

Result<RevocationStatus> check_revocations(const std::string& path) {
    RevocationStatus st;
    SKGATE_TRY(text, read_list(path));
    SKGATE_TRY(list, RevocationList::parse(text, path));
    st.listed = list.fingerprints().size();
    st.list_bytes = text.size();
    const std::string krl = krl_path_for(path);
    FileRules rules;
    rules.max_bytes = 64 + 4096 + kKrlHashEntryBytes * 10'000'000;
    auto bytes = read_trusted_file(krl, rules);
    if (!bytes) {
        if (bytes.error().code == ErrorCode::not_found)
            return st;
        return bytes.error();
    }
    st.index_exists = true;
    if (Status valid = KrlIndex::validate(as_bytes(*bytes)); !valid)
        return valid.error().context(krl);
    SKGATE_TRY(index, KrlIndex::open(krl));
    st.indexed = index.size();
    st.index_current = index.comment() == list_signature(path);
    return st;
}

bool RevocationList::is_revoked(const std::string& fingerprint) const {
    if (!index_)
        return fingerprints_.count(fingerprint) > 0;
    auto h = fingerprint_hash(fingerprint);
    if (!h)
        return false;  // not a SHA256 fingerprint: no key has it
    auto found = index_->contains(*h);
    // An index that cannot be read refuses: never "not revoked" by accident.
    return !found || *found;
}

Status RevocationList::rebuild_index(const std::string& path) {
    SKGATE_TRY(lock, FileLock::acquire(dir_of(path) + "/.revoked.lock"));
    SKGATE_TRY(text, read_list(path));
    SKGATE_TRY(current, RevocationList::parse(text, path));
    return write_index(path, current.fingerprints());
}

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

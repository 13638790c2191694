#include "core/sys/safefile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace skgate {

namespace {

struct Fd {
    int fd = -1;
    ~Fd() {
        if (fd >= 0)
            close(fd);
    }
};

std::string octal_mode(mode_t mode) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

bool owner_ok(uid_t uid, const FileRules& rules) {
    return uid == rules.owner || (rules.root_may_own && uid == 0);
}

}  // namespace

// A directory another user could write to lets them swap the file; a sticky
// directory (like /tmp) does not, because they cannot rename our file there.
Status check_trusted_directories(const std::string& path, const FileRules& rules) {
    std::string dir = path;
    while (true) {
        size_t slash = dir.find_last_of('/');
        if (slash == std::string::npos)
            return {};
        dir = slash == 0 ? "/" : dir.substr(0, slash);
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0)
            return make_error(ErrorCode::io,
                              "cannot stat directory " + dir + ": " + std::strerror(errno));
        bool sticky = st.st_mode & S_ISVTX;
        if (!owner_ok(st.st_uid, rules) || ((st.st_mode & 022) && !sticky))
            return make_error(
                ErrorCode::permission,
                "unsafe directory " + dir + " for " + path + " (owner uid " +
                    std::to_string(st.st_uid) + ", mode " + octal_mode(st.st_mode) +
                    "): it must be owned by root and not writable by group or others");
        if (dir == "/")
            return {};
    }
}

Status check_trusted_stat(const std::string& path, uid_t uid, mode_t mode, const FileRules& rules) {
    if (!S_ISREG(mode))
        return make_error(ErrorCode::permission, path + " is not a regular file");
    if (!owner_ok(uid, rules))
        return make_error(ErrorCode::permission,
                          path + " is owned by uid " + std::to_string(uid) + ", expected uid " +
                              std::to_string(rules.owner) + "; fix with: chown " +
                              std::to_string(rules.owner) + " " + path);
    if (mode & 022)
        return make_error(ErrorCode::permission,
                          path + " has mode " + octal_mode(mode) +
                              " (writable by group or others); fix with: chmod go-w " + path);
    if (rules.secret && (mode & 077))
        return make_error(ErrorCode::permission,
                          path + " has mode " + octal_mode(mode) +
                              " (open to group or others); fix with: chmod 600 " + path);
    if (rules.not_for_others && (mode & 07))
        return make_error(ErrorCode::permission, path + " has mode " + octal_mode(mode) +
                                                     " (open to others); fix with: chmod o-rwx " +
                                                     path);
    return {};
}

FileRules FileRules::own_secret(size_t max_bytes) {
    FileRules r;
    r.owner = geteuid();
    r.root_may_own = false;
    r.max_bytes = max_bytes;
    r.check_directories = false;
    r.secret = true;
    return r;
}

Result<std::string> read_trusted_file(const std::string& path, const FileRules& rules) {
    if (path.empty() || path.front() != '/')
        return invalid("path \"" + path + "\" is not absolute");
    Fd f;
    f.fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (f.fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return make_error(ErrorCode::not_found, path + " does not exist");
        if (e == ELOOP)
            return make_error(ErrorCode::permission,
                              path + " is a symbolic link; refusing to follow it");
        if (e == EACCES)
            return make_error(ErrorCode::permission,
                              "cannot open " + path + ": " + std::strerror(e));
        return make_error(ErrorCode::io, "cannot open " + path + ": " + std::strerror(e));
    }
    struct stat st {};
    if (fstat(f.fd, &st) != 0)
        return make_error(ErrorCode::io, "cannot stat " + path + ": " + std::strerror(errno));
    SKGATE_CHECK(check_trusted_stat(path, st.st_uid, st.st_mode, rules));
    if (rules.check_directories)
        SKGATE_CHECK(check_trusted_directories(path, rules));
    if (static_cast<uint64_t>(st.st_size) > rules.max_bytes)
        return invalid(path + " is larger than " + std::to_string(rules.max_bytes) + " bytes");

    std::string data;
    data.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (true) {
        if (got == data.size()) {
            // The file may have grown since fstat; read one more chunk to see.
            if (data.size() >= rules.max_bytes + 1)
                break;
            data.resize(std::min(data.size() + 4096, rules.max_bytes + 1));
        }
        ssize_t n = read(f.fd, data.data() + got, data.size() - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return make_error(ErrorCode::io, "cannot read " + path + ": " + std::strerror(errno));
        }
        if (n == 0)
            break;
        got += static_cast<size_t>(n);
    }
    if (got > rules.max_bytes)
        return invalid(path + " is larger than " + std::to_string(rules.max_bytes) + " bytes");
    data.resize(got);
    return data;
}

}  // namespace skgate

#include "core/sys/atomicfile.h"

#include "core/sys/monotonic.h"
#include "core/sys/safefile.h"
#include "core/sys/text.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace skgate {

namespace {

Error sys_error(const std::string& what) {
    return make_error(ErrorCode::io, what + ": " + std::strerror(errno));
}

std::string dir_of(const std::string& path) {
    size_t slash = path.find_last_of('/');
    if (slash == std::string::npos)
        return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

Status write_all(int fd, const std::string& data, const std::string& path) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sys_error("cannot write " + path);
        }
        done += static_cast<size_t>(n);
    }
    return {};
}

}  // namespace

FileOwner FileOwner::self(mode_t mode) {
    return {getuid(), getgid(), mode};
}

Status write_file_atomic(const std::string& path, const std::string& content,
                         const FileOwner& owner) {
    std::string dir = dir_of(path);
    std::string tmpl = path + ".tmp.XXXXXX";
    std::string tmp(tmpl);
    int fd = mkostemp(tmp.data(), O_CLOEXEC);
    if (fd < 0)
        return sys_error("cannot create a temporary file next to " + path);
    auto fail = [&](Error e) -> Status {
        close(fd);
        unlink(tmp.c_str());
        return e;
    };
    if (auto st = write_all(fd, content, tmp); !st)
        return fail(st.error());
    if (fchown(fd, owner.uid, owner.gid) != 0)
        return fail(sys_error("cannot chown " + tmp));
    if (fchmod(fd, owner.mode) != 0)
        return fail(sys_error("cannot chmod " + tmp));
    if (fsync(fd) != 0)
        return fail(sys_error("cannot fsync " + tmp));
    if (close(fd) != 0) {
        unlink(tmp.c_str());
        return sys_error("cannot close " + tmp);
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        Error e = sys_error("cannot rename " + tmp + " to " + path);
        unlink(tmp.c_str());
        return e;
    }
    int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sys_error("cannot open directory " + dir);
    int rc = fsync(dfd);
    close(dfd);
    if (rc != 0)
        return sys_error("cannot fsync directory " + dir);
    return {};
}

Result<FileLock> FileLock::acquire(const std::string& lock_path) {
    int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return sys_error("cannot open lock file " + lock_path);
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            Error e = sys_error("cannot lock " + lock_path);
            close(fd);
            return e;
        }
    }
    return FileLock(fd);
}

Result<FileLock> FileLock::acquire_until(const std::string& lock_path, uint64_t deadline_us) {
    int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return sys_error("cannot open lock file " + lock_path);
    // flock has no timeout: try, and wait a little between tries.
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            Error e = sys_error("cannot lock " + lock_path);
            close(fd);
            return e;
        }
        if (monotonic_us() >= deadline_us) {
            close(fd);
            return make_error(ErrorCode::io, "timed out waiting for the lock " + lock_path +
                                                 " (held by another process)");
        }
        poll(nullptr, 0, 5);
    }
    return FileLock(fd);
}

FileLock::~FileLock() {
    if (fd_ >= 0)
        close(fd_);  // releases the lock
}

Status ensure_directory(const std::string& dir, const FileOwner& owner) {
    // Root's directory must have safe parents too: in a directory others can
    // write, they could rename it away (and its history with it) or swap in
    // a symbolic link between our checks.
    if (owner.uid == 0) {
        FileRules rules;
        SKGATE_CHECK(check_trusted_directories(dir, rules));
    }
    bool created = mkdir(dir.c_str(), owner.mode) == 0;
    if (!created && errno != EEXIST)
        return sys_error("cannot create " + dir);
    // Everything after this works on the directory we opened, never on a path
    // that could have been swapped since.
    int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            return make_error(ErrorCode::permission,
                              printable(dir) + " exists but is not a directory");
        return sys_error("cannot open " + dir);
    }
    struct stat st {};
    Status result;
    if (fstat(fd, &st) != 0) {
        result = sys_error("cannot stat " + dir);
    } else if (created) {
        if (fchown(fd, owner.uid, owner.gid) != 0 || fchmod(fd, owner.mode) != 0)
            result = sys_error("cannot set owner and mode of " + dir);
    } else if (owner.uid == 0 && (st.st_uid != 0 || (st.st_mode & 022 & ~owner.mode) != 0)) {
        // A root-owned state directory that someone else can write is one
        // where they can plant the lock and state files root then opens.
        result = make_error(ErrorCode::permission,
                            printable(dir) +
                                " must be owned by root and not writable by group or others "
                                "(chown root " +
                                printable(dir) + "; chmod go-w " + printable(dir) + ")");
    }
    close(fd);
    return result;
}

}  // namespace skgate

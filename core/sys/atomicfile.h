// Writing files skgate owns: never a half-written file, never a lost update.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "core/sys/result.h"

namespace skgate {

struct FileOwner {
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t mode = 0644;

    // The calling user's own files (the agent's and authenticator's state).
    static FileOwner self(mode_t mode);
};

// Replaces `path` with `content`: a temporary file in the same directory,
// written, chmod/chown'ed, fsync'ed, renamed over `path`, and the directory
// fsync'ed. A crash leaves either the old or the new file, never a mix.
Status write_file_atomic(const std::string& path, const std::string& content,
                         const FileOwner& owner = {});

// An exclusive advisory lock (flock) on a lock file, held for the object's
// lifetime: read-modify-write sequences under it cannot lose updates.
class FileLock {
  public:
    static Result<FileLock> acquire(const std::string& lock_path);
    // Gives up at `deadline_us` (monotonic_us clock) with ErrorCode::io.
    static Result<FileLock> acquire_until(const std::string& lock_path, uint64_t deadline_us);
    FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    FileLock& operator=(FileLock&&) = delete;
    FileLock(const FileLock&) = delete;
    ~FileLock();

  private:
    explicit FileLock(int fd) : fd_(fd) {}
    int fd_ = -1;
};

// Creates `dir` (one level) with the given owner and mode if missing, and
// checks it is a real directory (not a symlink) when present; one meant for
// root must be root's and writable by nobody else.
Status ensure_directory(const std::string& dir, const FileOwner& owner);

}  // namespace skgate

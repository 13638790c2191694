// Threads a program owns, one per connection or job, none outliving the
// group (and so none outliving the object whose `this` it captured). The
// agent's clients and link handshakes and the authenticator's requests run
// in one; no thread in skgate is detached.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

#include "core/sys/result.h"

namespace skgate {

class ThreadGroup {
  public:
    ThreadGroup() = default;
    ~ThreadGroup() { join_all(); }
    ThreadGroup(const ThreadGroup&) = delete;
    ThreadGroup& operator=(const ThreadGroup&) = delete;

    // Runs `job` in a thread of its own. A `socket_fd` (not -1) is the
    // connection the job reads: join_all shuts it down so that a blocked
    // read returns. The group keeps a duplicate of it, so the number is
    // never another file's by the time it is shut down. When no duplicate
    // or no thread can be had (descriptors or threads exhausted, as a
    // client opening connections can make them), nothing runs and the
    // caller still owns the socket: a thread join_all could not wake would
    // keep the program from ever stopping.
    Status start(std::function<void()> job, int socket_fd = -1);
    // Joins the threads whose job has returned.
    void reap();
    // Shuts down every member's socket, then joins every thread.
    void join_all();
    size_t running();

  private:
    struct Member {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
        int control_fd = -1;
    };
    std::mutex mutex_;
    std::list<Member> members_;
};

}  // namespace skgate

#include "core/sys/thread_group.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace skgate {

void ThreadGroup::start(std::function<void()> job, int socket_fd) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    int control = socket_fd >= 0 ? fcntl(socket_fd, F_DUPFD_CLOEXEC, 0) : -1;
    std::thread t([job = std::move(job), done] {
        job();
        done->store(true);
    });
    std::lock_guard<std::mutex> lock(mutex_);
    members_.push_back({std::move(t), std::move(done), control});
}

void ThreadGroup::reap() {
    std::list<Member> finished;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        for (auto it = members_.begin(); it != members_.end();) {
            auto next = std::next(it);
            if (it->done->load())
                finished.splice(finished.end(), members_, it);
            it = next;
        }
    }
    for (auto& m : finished) {
        m.thread.join();
        if (m.control_fd >= 0)
            close(m.control_fd);
    }
}

void ThreadGroup::join_all() {
    std::list<Member> all;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        all.swap(members_);
    }
    for (auto& m : all)
        if (m.control_fd >= 0)
            ::shutdown(m.control_fd, SHUT_RDWR);
    for (auto& m : all) {
        m.thread.join();
        if (m.control_fd >= 0)
            close(m.control_fd);
    }
}

size_t ThreadGroup::running() {
    std::lock_guard<std::mutex> lock(mutex_);
    return members_.size();
}

}  // namespace skgate

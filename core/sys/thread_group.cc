#include "core/sys/thread_group.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>

namespace skgate {

Status ThreadGroup::start(std::function<void()> job, int socket_fd) {
    auto done = std::make_shared<std::atomic<bool>>(false);
    int control = -1;
    if (socket_fd >= 0) {
        control = fcntl(socket_fd, F_DUPFD_CLOEXEC, 0);
        if (control < 0)
            return make_error(ErrorCode::io, std::string("no descriptor to own the connection: ") +
                                                 std::strerror(errno));
    }
    std::thread t;
    try {
        t = std::thread([job = std::move(job), done] {
            job();
            done->store(true);
        });
    } catch (const std::system_error& e) {
        if (control >= 0)
            close(control);
        return make_error(ErrorCode::io, std::string("no thread for the connection: ") + e.what());
    }
    std::lock_guard<std::mutex> lock(mutex_);
    members_.push_back({std::move(t), std::move(done), control});
    return {};
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

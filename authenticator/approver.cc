#include "authenticator/approver.h"

#include <algorithm>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/sys/args.h"
#include "core/sys/safefile.h"

namespace skgate::authenticator {

namespace {

// A line from fd within timeout_s; nullopt on timeout or end of input.
std::optional<std::string> read_line(int fd, int timeout_s) {
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
        if (left <= 0)
            return std::nullopt;
        pollfd p{fd, POLLIN, 0};
        int rc = poll(&p, 1, static_cast<int>(left));
        if (rc <= 0)
            continue;
        char c = 0;
        ssize_t n = read(fd, &c, 1);
        if (n <= 0)
            return std::nullopt;
        if (c == '\n')
            return line;
        if (line.size() < 1024)
            line += c;
    }
}

// Throws away what is waiting to be read: the terminal's input queue, or
// what a pipe holds right now.
void discard_pending_input(int fd) {
    if (tcflush(fd, TCIFLUSH) == 0)
        return;
    char junk[256];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
            return;
        if (read(fd, junk, sizeof junk) <= 0)
            return;
    }
}

class Tty {
  public:
    Tty() : fd_(open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY)) {}
    ~Tty() {
        if (fd_ >= 0)
            close(fd_);
    }
    Tty(const Tty&) = delete;
    Tty& operator=(const Tty&) = delete;
    int in() const { return fd_ >= 0 ? fd_ : STDIN_FILENO; }
    void say(const std::string& s) const {
        int out = fd_ >= 0 ? fd_ : STDERR_FILENO;
        ssize_t ignored = write(out, s.data(), s.size());
        (void)ignored;
    }

  private:
    int fd_;
};

}  // namespace

Approval TerminalApprover::ask(const std::string& question, WindowOffer offer) {
    std::lock_guard<std::mutex> lock(mutex_);
    Tty tty;
    const std::string any = std::to_string(offer.any_host_minutes);
    tty.say("\n" + question + "\n  [o] allow once   [d] deny" +
            (offer.host ? "   [h] allow this host for 10 minutes" : "") +
            (offer.any_host_minutes
                 ? "\n  [a] allow logins to ANY host from this laptop for " + any + " minutes"
                 : std::string()) +
            "\n> ");
    discard_pending_input(tty.in());
    auto line = read_line(tty.in(), timeout_s_);
    if (!line) {
        tty.say("\n(no answer: refused)\n");
        return {Answer::no_answer, 0};
    }
    if (*line == "o" || *line == "O")
        return {Answer::once, 0};
    if (offer.host && (*line == "h" || *line == "H"))
        return {Answer::host_window, 10};
    if (offer.any_host_minutes && (*line == "a" || *line == "A"))
        return {Answer::any_host_window, offer.any_host_minutes};
    return {Answer::deny, 0};
}

std::optional<std::string> TerminalApprover::ask_pin(const std::string& question) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto pin = read_secret(question);
    if (!pin)
        return std::nullopt;
    return *pin;
}

Result<ScriptedApprover> ScriptedApprover::from_options(const std::string& mode, int delay_ms,
                                                        std::optional<std::string> pin,
                                                        int prompt_timeout_s) {
    ScriptedApprover a;
    if (mode == "yes") {
        a.answer_ = {Answer::once, 0};
    } else if (mode == "no") {
        a.answer_ = {Answer::deny, 0};
    } else if (mode == "silent") {
        a.answer_ = {Answer::no_answer, 0};
    } else if (mode.rfind("host:", 0) == 0) {
        auto minutes = parse_integer_in(std::string_view(mode).substr(5), 1, 24 * 60);
        if (!minutes)
            return invalid("--approve host:MINUTES needs 1..1440 minutes");
        a.answer_ = {Answer::host_window, static_cast<int>(*minutes)};
    } else if (mode.rfind("any:", 0) == 0) {
        auto minutes = parse_integer_in(std::string_view(mode).substr(4), 1, 24 * 60);
        if (!minutes)
            return invalid("--approve any:MINUTES needs 1..1440 minutes");
        a.answer_ = {Answer::any_host_window, static_cast<int>(*minutes)};
    } else {
        return invalid("--approve takes ask, yes, no, silent, host:MINUTES or any:MINUTES, not '" +
                       mode + "'");
    }
    if (delay_ms < 0 || delay_ms > 600000)
        return invalid("--approve-delay-ms must be 0..600000");
    a.delay_ms_ = delay_ms;
    a.prompt_timeout_s_ = prompt_timeout_s;
    a.pin_ = std::move(pin);
    return a;
}

Approval ScriptedApprover::ask(const std::string& question, WindowOffer offer) {
    std::fprintf(stderr, "skgate-authenticator: %s\n", question.c_str());
    if (answer_.answer == Answer::no_answer) {
        std::this_thread::sleep_for(std::chrono::seconds(prompt_timeout_s_));
        return answer_;
    }
    if (delay_ms_)
        std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    if (answer_.answer == Answer::host_window && !offer.host)
        return {Answer::once, 0};
    if (answer_.answer == Answer::any_host_window) {
        if (!offer.any_host_minutes)
            return {Answer::once, 0};
        return {Answer::any_host_window, std::min(answer_.minutes, offer.any_host_minutes)};
    }
    return answer_;
}

std::optional<std::string> ScriptedApprover::ask_pin(const std::string&) {
    return pin_;
}

Result<std::string> read_secret(const std::string& prompt) {
    Tty tty;
    tty.say(prompt);
    int fd = tty.in();
    termios old{};
    bool is_tty = tcgetattr(fd, &old) == 0;
    if (is_tty) {
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    auto line = read_line(fd, 300);
    if (is_tty) {
        tcsetattr(fd, TCSAFLUSH, &old);
        tty.say("\n");
    }
    if (!line)
        return make_error(ErrorCode::not_found, "no passphrase given");
    return *line;
}

Result<std::string> read_secret_file(const std::string& path) {
    std::string abs = path;
    if (abs.empty() || abs[0] != '/') {
        char cwd[4096];
        if (!getcwd(cwd, sizeof cwd))
            return make_error(ErrorCode::io, "cannot resolve " + path);
        abs = std::string(cwd) + "/" + path;
    }
    SKGATE_TRY(s, read_trusted_file(abs, FileRules::own_secret(1024)));
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
        s.pop_back();
    return s;
}

}  // namespace skgate::authenticator

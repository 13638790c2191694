// Who approves: a person at the terminal, or a script (tests, the demo).
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "core/sys/result.h"

namespace skgate::authenticator {

enum class Answer { once, deny, host_window, no_answer };

struct Approval {
    Answer answer = Answer::deny;
    int minutes = 0;  // host_window: for how long
};

class Approver {
  public:
    virtual ~Approver() = default;
    // `question` names what is approved; only one question is on screen at
    // a time. `allow_window` offers "allow this host for N minutes".
    virtual Approval ask(const std::string& question, bool allow_window) = 0;
    // The PIN/passphrase the person types for user verification, if any.
    virtual std::optional<std::string> ask_pin(const std::string& question) = 0;
};

// Asks on /dev/tty; `timeout_s` bounds each question. What was typed
// before a question appeared is thrown away, so that a key pressed ahead
// (or a line left in the input) never answers a request the person has not
// seen.
class TerminalApprover final : public Approver {
  public:
    explicit TerminalApprover(int timeout_s) : timeout_s_(timeout_s) {}
    Approval ask(const std::string& question, bool allow_window) override;
    std::optional<std::string> ask_pin(const std::string& question) override;

  private:
    int timeout_s_;
    std::mutex mutex_;
};

// --approve yes|no|silent|host:MINUTES, --approve-delay-ms, --pin-file;
// silent is a person who never answers: each question ends after
// `prompt_timeout_s` with no answer.
class ScriptedApprover final : public Approver {
  public:
    static Result<ScriptedApprover> from_options(const std::string& mode, int delay_ms,
                                                 std::optional<std::string> pin,
                                                 int prompt_timeout_s);
    Approval ask(const std::string& question, bool allow_window) override;
    std::optional<std::string> ask_pin(const std::string& question) override;

  private:
    ScriptedApprover() = default;
    Approval answer_;
    int delay_ms_ = 0;
    int prompt_timeout_s_ = 60;
    std::optional<std::string> pin_;
};

// Reads a line from the terminal with echo off (passphrases); stdin when
// there is no terminal.
Result<std::string> read_secret(const std::string& prompt);
// Reads a small secret file that must be the user's own and not readable
// by others; the trailing newline is dropped.
Result<std::string> read_secret_file(const std::string& path);

}  // namespace skgate::authenticator

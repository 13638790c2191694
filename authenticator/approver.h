// Who approves: a person at the terminal, or a script (tests, the demo).
#pragma once

#include <mutex>
#include <optional>
#include <string>

#include "core/sys/result.h"

namespace skgate::authenticator {

enum class Answer { once, deny, host_window, any_host_window, no_answer };

struct Approval {
    Answer answer = Answer::deny;
    int minutes = 0;  // host_window, any_host_window: for how long
};

// The windows a question may open: "allow this host for N minutes", and
// "allow logins to any host for N minutes" (automation: one approval for an
// Ansible run), up to the maximum the authenticator's owner set.
struct WindowOffer {
    bool host = false;
    int any_host_minutes = 0;  // 0: not offered
};

class Approver {
  public:
    virtual ~Approver() = default;
    // `question` names what is approved; only one question is on screen at
    // a time. `offer` says which windows the answer may open.
    virtual Approval ask(const std::string& question, WindowOffer offer) = 0;
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
    Approval ask(const std::string& question, WindowOffer offer) override;
    std::optional<std::string> ask_pin(const std::string& question) override;

  private:
    int timeout_s_;
    std::mutex mutex_;
};

// --approve yes|no|silent|host:MINUTES|any:MINUTES, --approve-delay-ms,
// --pin-file; a window not offered approves the one request, and any:
// is held to the offer's maximum;
// silent is a person who never answers: each question ends after
// `prompt_timeout_s` with no answer.
class ScriptedApprover final : public Approver {
  public:
    static Result<ScriptedApprover> from_options(const std::string& mode, int delay_ms,
                                                 std::optional<std::string> pin,
                                                 int prompt_timeout_s);
    Approval ask(const std::string& question, WindowOffer offer) override;
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

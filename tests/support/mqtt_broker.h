// A real mosquitto for tests: TLS with a CA made for the test (and a second
// CA that signed nothing of it), a login with a password, and the settings
// files (broker.conf) each side of the link reads. Started by the
// constructor, stopped (SIGTERM) by the destructor; restart() is a broker
// going away and coming back.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/helpers.h"

namespace skgate::test {

class MqttBroker {
  public:
    struct Options {
        // The addresses it listens on; its certificate is valid for these.
        std::vector<std::string> ips = {"127.0.0.1"};
        int port = 0;  // 0: a free loopback port
        // Runs mosquitto inside this network namespace (ip netns exec).
        std::string netns;
    };

    MqttBroker(const std::string& dir, Options options);
    ~MqttBroker();
    MqttBroker(const MqttBroker&) = delete;
    MqttBroker& operator=(const MqttBroker&) = delete;

    // mqtts:IP:PORT, for `skgate-agent pair --broker` (IP: the first one, or
    // the one given).
    std::string address(const std::string& ip = "") const;
    int port() const { return port_; }
    const std::string& ca_file() const { return ca_; }
    const std::string& other_ca_file() const { return other_ca_; }
    static constexpr const char* kUser = "skgate-test";

    // A broker.conf in `dir` (mode 0600, with its password file): the test
    // CA and the right password unless told otherwise.
    void write_settings(const std::string& dir, const std::string& ca = "",
                        const std::string& password = "") const;

    void stop();
    void start();
    void restart() {
        stop();
        start();
    }
    std::string log() const;

  private:
    void make_certificates();
    std::string dir_;
    Options options_;
    int port_ = 0;
    std::string ca_, other_ca_, password_;
    std::unique_ptr<Process> process_;
    int serial_ = 0;
};

}  // namespace skgate::test

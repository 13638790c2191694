// Where the link meets through an MQTT broker, and how each side logs in
// to it (DESIGN.md section 15). Parsing only: core/link/broker.h talks to
// the broker.
//
// Address: mqtts:HOST:PORT/TOPIC. TOPIC is random per pairing (made by
// `skgate-agent pair --broker`), so the broker's topic names say nothing of
// who pairs with whom. On the broker, the frames of connection CONN go to
//   skgate/TOPIC/u/CONN  authenticator -> agent
//   skgate/TOPIC/d/CONN  agent -> authenticator
//   skgate/TOPIC/g       "the agent is gone" (its last will, and its goodbye)
// An empty message on u/CONN or d/CONN closes CONN.
//
// Settings file (broker.conf; a missing file means every default):
//   ca FILE             the CA certificates that sign the broker's (default:
//                       the system's)
//   cert FILE / key FILE  a client certificate for brokers that ask for one
//   user NAME           the broker login
//   password-file FILE  its password (the file must be the user's own, 0600)
#pragma once

#include <string>
#include <string_view>

#include "core/sys/result.h"

namespace skgate {

inline constexpr std::string_view kBrokerScheme = "mqtts:";
inline constexpr size_t kMinBrokerTopic = 16;
inline constexpr size_t kMaxBrokerTopic = 64;
inline constexpr size_t kMaxBrokerSettingsBytes = 16 * 1024;
// The ca, cert and key files (a system CA bundle is about 200 KiB).
inline constexpr size_t kMaxBrokerTlsFileBytes = 1024 * 1024;

bool is_broker_address(std::string_view address);

struct BrokerAddress {
    std::string host;
    int port = 0;
    std::string topic;

    static Result<BrokerAddress> parse(std::string_view address);
    std::string format() const;
    // The same broker with another topic.
    BrokerAddress with_topic(std::string topic) const;
    // A fresh random topic (32 characters).
    static Result<std::string> random_topic();

    std::string upstream(std::string_view conn) const;  // skgate/TOPIC/u/CONN
    std::string downstream(std::string_view conn) const;
    std::string upstream_filter() const;  // skgate/TOPIC/u/+
    std::string goodbye() const;          // skgate/TOPIC/g
};

struct BrokerSettings {
    std::string ca_file;  // "" = the system's CAs
    std::string cert_file;
    std::string key_file;
    std::string user;
    std::string password;  // read from password-file

    // `origin` names the file in messages; relative paths are refused.
    static Result<BrokerSettings> parse(std::string_view text, const std::string& origin);
    // A missing file is every default; the password file is read (and its
    // mode checked) here.
    static Result<BrokerSettings> load(const std::string& path);

    BrokerSettings() = default;
    BrokerSettings(const BrokerSettings&) = default;
    BrokerSettings& operator=(const BrokerSettings&) = default;
    ~BrokerSettings();

  private:
    std::string password_file_;
};

}  // namespace skgate

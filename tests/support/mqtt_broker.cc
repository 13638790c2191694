#include "tests/support/mqtt_broker.h"

#include <sys/stat.h>

#include <filesystem>
#include <stdexcept>

namespace skgate::test {

namespace {

void must(const std::vector<std::string>& argv, const std::string& what) {
    auto r = run(argv);
    if (r.status != 0)
        throw std::runtime_error(what + ": " + r.err + r.out);
}

void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    must(argv, "openssl");
}

}  // namespace

MqttBroker::MqttBroker(const std::string& dir, Options options)
    : dir_(dir), options_(std::move(options)) {
    std::filesystem::create_directories(dir_);
    port_ = options_.port ? options_.port : free_port();
    make_certificates();
    password_ = "broker-password-" + std::to_string(port_);
    const std::string passwd = dir_ + "/passwd";
    must({"mosquitto_passwd", "-c", "-b", passwd, kUser, password_}, "mosquitto_passwd");
    chmod(passwd.c_str(), 0600);
    std::string conf =
        "# written by the test (tests/support/mqtt_broker.cc)\n"
        "user root\n"
        "per_listener_settings false\n"
        "persistence false\n"
        "allow_anonymous false\n"
        "password_file " +
        passwd +
        "\n"
        "log_dest stderr\n"
        "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
        "connection_messages true\n";
    for (const auto& ip : options_.ips)
        conf += "listener " + std::to_string(port_) + " " + ip + "\ncafile " + ca_ + "\ncertfile " +
                dir_ + "/server.crt\nkeyfile " + dir_ + "/server.key\ntls_version tlsv1.2\n";
    write_file(dir_ + "/mosquitto.conf", conf, 0600);
    start();
}

MqttBroker::~MqttBroker() {
    stop();
}

void MqttBroker::make_certificates() {
    for (const std::string ca : {"ca", "other-ca"})
        openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", dir_ + "/" + ca + ".key", "-out", dir_ + "/" + ca + ".crt", "-subj",
                 "/CN=skgate test broker " + ca, "-days", "2"});
    ca_ = dir_ + "/ca.crt";
    other_ca_ = dir_ + "/other-ca.crt";
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             dir_ + "/server.key", "-out", dir_ + "/server.csr", "-subj",
             "/CN=skgate test broker"});
    std::string san = "subjectAltName=";
    for (size_t i = 0; i < options_.ips.size(); i++)
        san += (i ? ",IP:" : "IP:") + options_.ips[i];
    write_file(dir_ + "/ext", san + "\nbasicConstraints=CA:FALSE\n");
    openssl({"x509", "-req", "-in", dir_ + "/server.csr", "-CA", ca_, "-CAkey", dir_ + "/ca.key",
             "-CAcreateserial", "-out", dir_ + "/server.crt", "-days", "2", "-extfile",
             dir_ + "/ext"});
    chmod((dir_ + "/server.key").c_str(), 0600);
}

std::string MqttBroker::address(const std::string& ip) const {
    return "mqtts:" + (ip.empty() ? options_.ips.front() : ip) + ":" + std::to_string(port_);
}

void MqttBroker::write_settings(const std::string& dir, const std::string& ca,
                                const std::string& password) const {
    std::filesystem::create_directories(dir);
    chmod(dir.c_str(), 0700);  // the programs' own directories are 0700
    const std::string pw = dir + "/broker.password";
    write_file(pw, (password.empty() ? password_ : password) + "\n", 0600);
    chmod(pw.c_str(), 0600);
    write_file(dir + "/broker.conf",
               "# the test's broker\nca " + (ca.empty() ? ca_ : ca) + "\nuser " + kUser +
                   "\npassword-file " + pw + "\n",
               0600);
    chmod((dir + "/broker.conf").c_str(), 0600);
}

void MqttBroker::start() {
    std::vector<std::string> argv{"mosquitto", "-c", dir_ + "/mosquitto.conf"};
    if (!options_.netns.empty())
        argv.insert(argv.begin(), {"ip", "netns", "exec", options_.netns});
    process_ = std::make_unique<Process>(argv, std::map<std::string, std::string>{},
                                         dir_ + "/mosquitto." + std::to_string(++serial_) + ".log");
    // "Opening ipv4 listen socket" comes before it serves; the last line of
    // its start is "mosquitto version ... running".
    if (!process_->wait_for_output(" running", 20000))
        throw std::runtime_error("mosquitto did not start: " + process_->output());
}

void MqttBroker::stop() {
    if (process_)
        process_->stop();
    process_.reset();
}

std::string MqttBroker::log() const {
    return process_ ? process_->output() : "";
}

}  // namespace skgate::test

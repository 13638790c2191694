// The broker transport's stand-in in builds without libmosquitto
// (meson -Dbroker=disabled): every mqtts: address is refused, saying why.
#include "core/link/broker.h"

namespace skgate {

namespace {

Error not_built() {
    return make_error(ErrorCode::unavailable,
                      "this skgate was built without the MQTT broker transport (meson "
                      "-Dbroker=enabled, with libmosquitto); use a tcp: or unix: address");
}

}  // namespace

bool broker_supported() {
    return false;
}

Result<std::unique_ptr<Transport>> connect_broker(const BrokerAddress&, const BrokerSettings&,
                                                  int) {
    return not_built();
}

struct BrokerListener::Hub {};

Result<std::unique_ptr<BrokerListener>> BrokerListener::start(const BrokerAddress&,
                                                              const BrokerSettings&) {
    return not_built();
}

BrokerListener::~BrokerListener() = default;

Status BrokerListener::wait_ready(int) {
    return not_built();
}

Result<std::shared_ptr<Transport>> BrokerListener::accept(int) {
    return not_built();
}

void BrokerListener::close_all() {}

uint64_t BrokerListener::dropped_connections() const {
    return 0;
}

std::string BrokerListener::state() const {
    return not_built().message;
}

const BrokerAddress& BrokerListener::address() const {
    static const BrokerAddress none;
    return none;
}

}  // namespace skgate

#include "core/link/broker.h"
#include "core/link/channel.h"

namespace skgate {

Result<std::unique_ptr<Transport>> connect_channel(std::string_view address, int timeout_ms,
                                                   const BrokerSettings* broker) {
    if (!is_broker_address(address))
        return connect_socket_channel(address, timeout_ms);
    SKGATE_TRY(a, BrokerAddress::parse(address));
    return connect_broker(a, broker ? *broker : BrokerSettings{}, timeout_ms);
}

}  // namespace skgate

// A transport that keeps a copy of every frame one side sends: what a
// broker, or anyone on the path, records. It names its connection as the
// inner transport does, or as told (a broker connection's binding).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/link/channel.h"

namespace skgate::test {

class RecordingTransport final : public Transport {
  public:
    explicit RecordingTransport(std::shared_ptr<Transport> inner,
                                std::optional<std::string> binding = std::nullopt)
        : inner_(std::move(inner)), binding_(std::move(binding)) {}
    Status send(ByteView frame) override {
        sent.emplace_back(frame.begin(), frame.end());
        return inner_->send(frame);
    }
    Result<Bytes> receive(int timeout_ms) override { return inner_->receive(timeout_ms); }
    void shutdown() override { inner_->shutdown(); }
    std::string binding() const override { return binding_ ? *binding_ : inner_->binding(); }
    std::vector<Bytes> sent;

  private:
    std::shared_ptr<Transport> inner_;
    std::optional<std::string> binding_;
};

}  // namespace skgate::test

// Every field key and every type value of the link's messages (pairing,
// sessions, requests), in one place: keys in msg::field, values of the
// type field in msg::type, so that a new message cannot reuse a number
// unseen (a unit test checks each list has no repeats).
#pragma once

#include <array>
#include <cstdint>

namespace skgate::msg {

namespace field {
inline constexpr uint64_t kType = 1;
inline constexpr uint64_t kId = 2;
inline constexpr uint64_t kTime = 3;
inline constexpr uint64_t kStatus = 4;
inline constexpr uint64_t kReason = 5;
inline constexpr uint64_t kKey = 10;
inline constexpr uint64_t kName = 11;
inline constexpr uint64_t kDeviceId = 12;
inline constexpr uint64_t kNonce = 13;  // the first session protocol's; kept unused
inline constexpr uint64_t kAddress = 14;
inline constexpr uint64_t kProof = 15;
inline constexpr uint64_t kApplication = 30;
inline constexpr uint64_t kAlgorithm = 31;
inline constexpr uint64_t kHash = 32;
inline constexpr uint64_t kOptions = 33;
inline constexpr uint64_t kUserName = 34;
inline constexpr uint64_t kAuthData = 35;
inline constexpr uint64_t kSignature = 36;
inline constexpr uint64_t kKeyHandle = 37;
inline constexpr uint64_t kData = 38;
inline constexpr uint64_t kContext = 39;
inline constexpr uint64_t kFlags = 40;
inline constexpr uint64_t kCounter = 41;
inline constexpr uint64_t kHostNames = 42;
inline constexpr std::array kAll = {
    kType,     kId,        kTime,      kStatus,      kReason,    kKey,   kName,    kDeviceId,
    kNonce,    kAddress,   kProof,     kApplication, kAlgorithm, kHash,  kOptions, kUserName,
    kAuthData, kSignature, kKeyHandle, kData,        kContext,   kFlags, kCounter, kHostNames};
}  // namespace field

namespace type {
inline constexpr uint64_t kSessionHello = 1;
inline constexpr uint64_t kSessionReady = 2;
inline constexpr uint64_t kUnpaired = 3;
inline constexpr uint64_t kRefused = 9;
inline constexpr uint64_t kPairHello = 10;
inline constexpr uint64_t kPairConfirm = 11;
inline constexpr uint64_t kPairResult = 12;
inline constexpr uint64_t kRegisterRequest = 20;
inline constexpr uint64_t kRegisterResponse = 21;
inline constexpr uint64_t kSignRequest = 22;
inline constexpr uint64_t kSignResponse = 23;
inline constexpr std::array kAll = {
    kSessionHello, kSessionReady,    kUnpaired,         kRefused,     kPairHello,   kPairConfirm,
    kPairResult,   kRegisterRequest, kRegisterResponse, kSignRequest, kSignResponse};
}  // namespace type

}  // namespace skgate::msg

// Machine-readable error reasons: the one closed list. A reason rides on an
// absl::Status (WithReason) and crosses gRPC by its name ("NO_KV_SPACE") in
// kvc.v1.ErrorDetail.reason; the names and numbers are those of kvc.v1.Reason in
// proto/kvc/v1/reason.proto (GrpcStatusTest.ReasonListsAgree checks both ways).
// Code sets and tests reasons only through this enum; the string forms are for
// the wire, logs, metric labels and HTTP error codes.
#pragma once

#include <ostream>
#include <string_view>
#include <vector>

#include "kvc/common/status.h"

namespace kvc {

// X(enumerator, wire name, number). Append only; never renumber.
#define KVC_REASONS(X)                                            \
  X(kAlreadyDecoding, "ALREADY_DECODING", 1)                      \
  X(kBadKeys, "BAD_KEYS", 2)                                      \
  X(kBadMaxTokens, "BAD_MAX_TOKENS", 3)                           \
  X(kBadPrefix, "BAD_PREFIX", 4)                                  \
  X(kBadPrompt, "BAD_PROMPT", 5)                                  \
  X(kBadReplicas, "BAD_REPLICAS", 6)                              \
  X(kBadSampling, "BAD_SAMPLING", 7)                              \
  X(kBadSegment, "BAD_SEGMENT", 8)                                \
  X(kBadSize, "BAD_SIZE", 9)                                      \
  X(kBadTier, "BAD_TIER", 10)                                     \
  X(kBatchTooLarge, "BATCH_TOO_LARGE", 11)                        \
  X(kCancelled, "CANCELLED", 12)                                  \
  X(kClientCancelled, "CLIENT_CANCELLED", 13)                     \
  X(kContextFull, "CONTEXT_FULL", 14)                             \
  X(kDeadlineExceeded, "DEADLINE_EXCEEDED", 15)                   \
  X(kDecodeFailed, "DECODE_FAILED", 16)                           \
  X(kDecodeProtocol, "DECODE_PROTOCOL", 17)                       \
  X(kDecodeStalled, "DECODE_STALLED", 18)                         \
  X(kDecodeUnreachable, "DECODE_UNREACHABLE", 19)                 \
  X(kDuplicateRequest, "DUPLICATE_REQUEST", 20)                   \
  X(kEmptyPrompt, "EMPTY_PROMPT", 21)                             \
  X(kKvCacheFull, "KV_CACHE_FULL", 22)                            \
  X(kKvCapacity, "KV_CAPACITY", 23)                               \
  X(kKvLayoutMismatch, "KV_LAYOUT_MISMATCH", 24)                  \
  X(kLeased, "LEASED", 25)                                        \
  X(kLeaseExpired, "LEASE_EXPIRED", 26)                           \
  X(kMaxTokensOverReservation, "MAX_TOKENS_OVER_RESERVATION", 27) \
  X(kMissingRequestId, "MISSING_REQUEST_ID", 28)                  \
  X(kModelMismatch, "MODEL_MISMATCH", 29)                         \
  X(kModelNotFound, "MODEL_NOT_FOUND", 30)                        \
  X(kNodeFailed, "NODE_FAILED", 31)                               \
  X(kNodeUnreachable, "NODE_UNREACHABLE", 32)                     \
  X(kNotComplete, "NOT_COMPLETE", 33)                             \
  X(kNotFound, "NOT_FOUND", 34)                                   \
  X(kNotLeader, "NOT_LEADER", 35)                                 \
  X(kNoKvSpace, "NO_KV_SPACE", 36)                                \
  X(kNoLeader, "NO_LEADER", 37)                                   \
  X(kNoMaster, "NO_MASTER", 38)                                   \
  X(kNoNodes, "NO_NODES", 39)                                     \
  X(kNoSpace, "NO_SPACE", 40)                                     \
  X(kObjectExists, "OBJECT_EXISTS", 41)                           \
  X(kPromptMismatch, "PROMPT_MISMATCH", 42)                       \
  X(kPromptTooLong, "PROMPT_TOO_LONG", 43)                        \
  X(kPutInProgress, "PUT_IN_PROGRESS", 44)                        \
  X(kPutNotStarted, "PUT_NOT_STARTED", 45)                        \
  X(kQueueFull, "QUEUE_FULL", 46)                                 \
  X(kSegmentExists, "SEGMENT_EXISTS", 47)                         \
  X(kShuttingDown, "SHUTTING_DOWN", 48)                           \
  X(kSloUnattainable, "SLO_UNATTAINABLE", 49)                     \
  X(kStreamStalled, "STREAM_STALLED", 50)                         \
  X(kTakeoverGrace, "TAKEOVER_GRACE", 51)                         \
  X(kTokenOutOfRange, "TOKEN_OUT_OF_RANGE", 52)                   \
  X(kTokenOutOfVocab, "TOKEN_OUT_OF_VOCAB", 53)                   \
  X(kUnknownRequest, "UNKNOWN_REQUEST", 54)                       \
  X(kUnknownSegment, "UNKNOWN_SEGMENT", 55)

enum class Reason : int {
  kUnspecified = 0,  // no reason, or a name this build does not know
#define KVC_REASON_ENUMERATOR_(id, name, number) id = number,
  KVC_REASONS(KVC_REASON_ENUMERATOR_)
#undef KVC_REASON_ENUMERATOR_
};

// The wire name ("NO_KV_SPACE"); "" for kUnspecified.
std::string_view ReasonName(Reason reason);
// The reason named `name`; kUnspecified for "" and for unknown names.
Reason ReasonFromName(std::string_view name);
// Every reason but kUnspecified, in number order.
const std::vector<Reason>& AllReasons();

// `status` with `reason` attached (nothing for an OK status or kUnspecified).
[[nodiscard]] Status WithReason(Status status, Reason reason);
// The reason attached to `status`; kUnspecified when there is none.
Reason ReasonCodeOf(const Status& status);

std::ostream& operator<<(std::ostream& os, Reason reason);

}  // namespace kvc

#include "kvc/rpc/service_auth.h"

#include <google/protobuf/message.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/support/method_handler.h>
#include <grpcpp/support/server_callback.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kvc/rpc/auth.h"

namespace kvc {
namespace {

using grpc::internal::MethodHandler;
using grpc::internal::RpcServiceMethod;
using MethodList = std::vector<std::unique_ptr<RpcServiceMethod>>;

// grpc::Service keeps its method table private and offers no public way to wrap a
// handler. An explicit template instantiation may name a private member (the
// standard exempts it from access checks), which gives us a pointer to it.
MethodList grpc::Service::*ServiceMethods();
template <MethodList grpc::Service::*M>
struct MethodsAccess {
  friend MethodList grpc::Service::*ServiceMethods() { return M; }
};
template struct MethodsAccess<&grpc::Service::methods_>;

constexpr const char* kRefusal = "missing or wrong cluster token (authorization: Bearer)";

// A callback-API stream that ends at once with UNAUTHENTICATED.
class RefusingWriter : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  RefusingWriter() { Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, kRefusal)); }
  void OnDone() override { delete this; }
};

bool Wrappable(const RpcServiceMethod& m) {
  if (m.handler() == nullptr) return false;
  if (m.api_type() == RpcServiceMethod::ApiType::SYNC) return true;
  return m.api_type() == RpcServiceMethod::ApiType::CALL_BACK &&
         m.method_type() == grpc::internal::RpcMethod::SERVER_STREAMING;
}

// Checks the token, then runs the original handler; refuses otherwise.
class TokenCheckingHandler : public MethodHandler {
 public:
  TokenCheckingHandler(std::unique_ptr<RpcServiceMethod> inner, std::string token)
      : inner_(std::move(inner)), token_(std::move(token)) {}

  void RunHandler(const HandlerParameter& param) override {
    const auto& ctx = *static_cast<const grpc::ServerContextBase*>(param.server_context);
    const char* why = nullptr;
    if (Authorized(ctx, &why)) {
      inner_->handler()->RunHandler(param);
      return;
    }
    LogRefusedCall("auth", ctx.peer(), inner_->name(), why);
    // The original handler destroys the request only when it runs; every kvc
    // request is a protobuf message whose Message base sits at offset 0.
    if (param.request != nullptr)
      static_cast<google::protobuf::Message*>(param.request)->~Message();
    if (inner_->api_type() == RpcServiceMethod::ApiType::CALL_BACK) {
      RefuseCallbackStream(param);
      return;
    }
    grpc::internal::ErrorMethodHandler<grpc::StatusCode::UNAUTHENTICATED> refuse(kRefusal);
    refuse.RunHandler(param);
  }

  void* Deserialize(grpc_call* call, grpc_byte_buffer* req, grpc::Status* status,
                    void** handler_data) override {
    return inner_->handler()->Deserialize(call, req, status, handler_data);
  }

 private:
  // On refusal *why says what was wrong (never the token itself).
  bool Authorized(const grpc::ServerContextBase& ctx, const char** why) const {
    const auto& md = ctx.client_metadata();
    auto it = md.find("authorization");
    if (it == md.end()) {
      *why = "no cluster token (authorization metadata missing)";
      return false;
    }
    if (!BearerMatches(std::string(it->second.data(), it->second.size()), token_)) {
      *why = "wrong cluster token";
      return false;
    }
    return true;
  }

  // A callback stream must be answered by a reactor: run a byte-level streaming
  // handler whose reactor finishes at once, with a request it can destroy itself.
  static void RefuseCallbackStream(const HandlerParameter& param) {
    void* mem = grpc::g_core_codegen_interface->grpc_call_arena_alloc(param.call->call(),
                                                                      sizeof(grpc::ByteBuffer));
    auto* request = new (mem) grpc::ByteBuffer();
    grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, grpc::ByteBuffer> refuse(
        [](grpc::CallbackServerContext*, const grpc::ByteBuffer*) { return new RefusingWriter(); });
    refuse.RunHandler(HandlerParameter(param.call, param.server_context, request, grpc::Status::OK,
                                       param.internal_data, param.call_requester));
  }

  const std::unique_ptr<RpcServiceMethod> inner_;  // owns the original handler
  const std::string token_;
};

}  // namespace

Status RequireClusterToken(grpc::Service* service, const std::string& token) {
  if (token.empty()) return Status();
  MethodList& methods = service->*ServiceMethods();
  for (const auto& m : methods) {
    if (!m || !Wrappable(*m)) {
      return absl::FailedPreconditionError(
          absl::StrCat("cluster token: cannot guard method ", m ? m->name() : "(generic)",
                       " (only synchronous methods and callback server streams can be wrapped)"));
    }
  }
  for (auto& m : methods) {
    std::unique_ptr<RpcServiceMethod> inner = std::move(m);
    const char* name = inner->name();
    const auto type = inner->method_type();
    const auto api = inner->api_type();
    m = std::make_unique<RpcServiceMethod>(name, type,
                                           new TokenCheckingHandler(std::move(inner), token));
    m->SetServerApiType(api);  // the server dispatches callback methods differently
  }
  return Status();
}

}  // namespace kvc

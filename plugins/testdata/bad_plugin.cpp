// Deliberately broken plugins for tests/test_plugins.cpp, one shared library per BAD_* macro:
//   BAD_NO_CREATE       exports precis_plugin_abi_version only
//   BAD_WRONG_ABI       reports ABI version 999
//   BAD_FACTORY_ERROR   its factory fails with a message
//   BAD_THROWS          a working stage whose before() throws when the prompt says so:
//                       "explode" -> std::runtime_error, "throw-int" -> a non-std exception
#include <stdexcept>

#include "precis/plugin.hpp"

namespace {

class Thrower : public precis::Stage {
 public:
  std::string name() const override { return "thrower"; }
  void before(precis::Request& request) override {
    if (request.prompt.find("explode") != std::string::npos)
      throw std::runtime_error("asked to explode");
    if (request.prompt.find("throw-int") != std::string::npos) throw 42;
    request.metadata.emplace("thrower:seen", std::string(1, '1'));
  }
};

}  // namespace

#if defined(BAD_NO_CREATE)
extern "C" __attribute__((visibility("default"))) int precis_plugin_abi_version(void) {
  return PRECIS_PLUGIN_ABI_VERSION;
}
#elif defined(BAD_WRONG_ABI)
extern "C" __attribute__((visibility("default"))) int precis_plugin_abi_version(void) {
  return 999;
}
extern "C" __attribute__((visibility("default"))) precis_plugin_v1* precis_plugin_create(
    const char*, char*, size_t) {
  return nullptr;
}
#elif defined(BAD_FACTORY_ERROR)
PRECIS_DEFINE_PLUGIN([](const std::string& settings) -> std::unique_ptr<Thrower> {
  throw std::runtime_error("cannot start with settings " + settings);
})
#elif defined(BAD_THROWS)
PRECIS_DEFINE_PLUGIN([](const std::string&) { return std::make_unique<Thrower>(); })
#else
#error "define one of the BAD_* macros"
#endif

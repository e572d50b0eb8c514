// Streams the answer as it is generated, then prints how long each stage took.
//
//   example_sdk_streaming CONFIG.json "your prompt"
#include <cstdio>
#include <iostream>
#include <precis/precis.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: example_sdk_streaming CONFIG.json PROMPT\n";
    return 2;
  }
  try {
    precis::Pipeline pipeline = precis::Pipeline::from_config_file(argv[1]);
    precis::Request request;
    request.prompt = argv[2];
    precis::Result result = pipeline.run(request, [](const std::string& delta) {
      std::fputs(delta.c_str(), stdout);  // arrives token by token, whole UTF-8 characters only
      std::fflush(stdout);
    });
    std::printf("\n");
    for (const auto& t : result.timings) std::printf("%-10s %8.1f ms\n", t.stage.c_str(), t.ms);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

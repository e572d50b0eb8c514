// The smallest useful precis program: compress a long prompt, plan, and answer.
//
//   example_sdk_minimal [MODEL_DIR]     (default: the shipped model)
#include <iostream>
#include <precis/precis.hpp>

int main(int argc, char** argv) {
  try {
    precis::PipelineConfig config;
    if (argc > 1) config.model.path = argv[1];
    config.compress.rate = 0.5;
    config.generate.max_tokens = 24;
    config.generate.temperature = 0.0f;
    // Plan even this simple lookup, to show the plan; the default ("auto") plans only the
    // requests a plan helps (arithmetic, multi-hop, code).
    config.plan.when = "always";
    precis::Pipeline pipeline(config);

    precis::Request request;
    request.prompt =
        "Now it came to pass in the days when the judges ruled, that there was a famine in the "
        "land. And a certain man of Bethlehemjudah went to sojourn in the country of Moab, he, and "
        "his wife, and his two sons. And the name of the man was Elimelech, and the name of his "
        "wife Naomi, and the name of his two sons Mahlon and Chilion.";
    request.question = "What was the name of Elimelech's wife?";
    precis::Result result = pipeline.run(request);

    std::cout << "prompt tokens: " << result.original_tokens << " -> " << result.compressed_tokens
              << "\nplan:\n"
              << result.plan.code << "\nanswer:" << result.text << "\n";
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

// The embedded engine as the server's generator: Pipeline::run (compress, plan, generate) on a
// pool of worker threads, so the HTTP threads never block on generation. The engine batches
// the concurrent runs (continuous batching).
#pragma once

#include <memory>

#include "middleware/server/generation_workers.hpp"
#include "middleware/server/generator.hpp"

namespace precis::server {

class PipelineGenerator : public Generator {
 public:
  // At most `max_threads` runs at once (the server admits no more than that anyway).
  // `model_name`: the id /v1/models reports; empty: the model directory's name.
  PipelineGenerator(std::shared_ptr<Pipeline> pipeline, int max_threads,
                    std::string model_name = "");
  ~PipelineGenerator() override;

  std::string model_id() const override { return model_id_; }
  const PipelineConfig& config() const override { return pipeline_->config(); }
  void start(Request request, std::shared_ptr<const ClientRequest> client,
             GenerationHandlers handlers, std::shared_ptr<CancelToken> cancel) override;
  GeneratorStats stats() const override;
  void shutdown() override;

 private:
  void run(GenerationJob& job);

  std::shared_ptr<Pipeline> pipeline_;
  std::string model_id_;
  GenerationWorkers workers_;  // last: its threads stop before the members they use go
};

}  // namespace precis::server

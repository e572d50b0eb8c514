#include "middleware/server/pipeline_generator.hpp"

#include <filesystem>
#include <stdexcept>

namespace precis::server {

PipelineGenerator::PipelineGenerator(std::shared_ptr<Pipeline> pipeline, int max_threads,
                                     std::string model_name)
    : pipeline_(std::move(pipeline)),
      workers_(max_threads, [this](GenerationJob& job) { run(job); }) {
  const PipelineConfig& c = pipeline_->config();
  model_id_ = std::move(model_name);
  if (model_id_.empty())
    model_id_ = std::filesystem::path(c.model.path).lexically_normal().filename().string();
  if (model_id_.empty())
    model_id_ =
        std::filesystem::path(c.model.path).lexically_normal().parent_path().filename().string();
  if (model_id_.empty()) model_id_ = "precis";
}

PipelineGenerator::~PipelineGenerator() {
  shutdown();
}

void PipelineGenerator::start(Request request, std::shared_ptr<const ClientRequest> client,
                              GenerationHandlers handlers, std::shared_ptr<CancelToken> cancel) {
  workers_.start({std::move(request), std::move(client), std::move(handlers), std::move(cancel)});
}

void PipelineGenerator::run(GenerationJob& job) {
  if (job.handlers.on_start) job.handlers.on_start();
  Result result;
  try {
    ChoiceTextCallback on_text = job.handlers.on_text;
    result = pipeline_->run(std::move(job.request), on_text, job.cancel.get());
  } catch (...) {
    if (job.handlers.on_error) job.handlers.on_error(std::current_exception());
    return;
  }
  if (job.handlers.on_done) job.handlers.on_done(std::move(result));
}

GeneratorStats PipelineGenerator::stats() const {
  const PipelineStats s = pipeline_->stats();
  GeneratorStats g;
  g.kv_blocks_used = s.kv_blocks_used;
  g.kv_blocks_total = s.kv_blocks_total;
  g.running_requests = s.running_requests;
  if (pipeline_->config().model.prefix_caching) {
    g.prefix_cache_queried_tokens = static_cast<int64_t>(s.prefix_cache_queried_tokens);
    g.prefix_cache_hit_tokens = static_cast<int64_t>(s.prefix_cache_hit_tokens);
  }
  g.plugin_metrics = pipeline_->plugin_metrics();
  return g;
}

void PipelineGenerator::shutdown() {
  workers_.shutdown();
}

}  // namespace precis::server

// The camera's confusion between age bands, from a predictions CSV or by
// running a model on its own validation part (its held-out part when it has
// none, as a cross-fitted model); see insights/insights.h.
#include <cmath>

#include "agegate/core/log.h"
#include "agegate/core/run_info.h"
#include "agegate/data/labels.h"
#include "agegate/data/split.h"
#include "agegate/eval/evaluate.h"
#include "agegate/eval/metrics.h"
#include "agegate/eval/run_model.h"
#include "agegate/insights/insights.h"
#include "agegate/model/model_file.h"

namespace agegate {

BandConfusion read_band_confusion(const std::filesystem::path& predictions_csv, const std::vector<AgeBand>& bands) {
  std::vector<std::pair<int, double>> pairs;
  for (const PredictionRow& r : read_predictions_csv(predictions_csv)) pairs.push_back({r.real_age, r.pred_age});
  return band_confusion(pairs, bands, predictions_csv.filename().string() + " (" + std::to_string(pairs.size()) + " photos)");
}

BandConfusion confusion_from_model(const std::filesystem::path& model, const std::filesystem::path& data_dir,
                                   const std::vector<AgeBand>& bands) {
  LoadedModel m = load_model_file(model);
  const ModelSplit ms = model_split(m.info, read_labels(data_dir).rows);
  if (!ms.same_data) {
    log().warn("insights: {} is not the data {} was trained on; its validation part is not the model's own",
               data_dir.string(), model.filename().string());
  }
  const Split& split = ms.split;
  m.net->eval();
  RunModelOptions ro;
  ro.progress_label = "confusion";
  // A cross-fitted model has no validation part (its choices were made out of
  // fold): its held-out part is then the photos it never saw.
  const bool held_out = split.val.empty();
  const ModelRun run = run_model(m.net, m.info.preprocess, held_out ? split.test : split.val, ro);
  std::vector<std::pair<int, double>> pairs;
  for (const Prediction& p : to_predictions(run, m.info.calibration())) pairs.push_back({p.real_age, p.dist.mean()});
  return band_confusion(pairs, bands,
                        model.filename().string() + " on its " + (held_out ? "held-out" : "validation") + " part of " +
                            data_dir.string() + " (" + std::to_string(pairs.size()) + " photos)");
}

}  // namespace agegate

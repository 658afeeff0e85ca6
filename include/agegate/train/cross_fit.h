// Cross-fitting (`agegate train --folds K`): K models whose validation folds
// cover every photo of the training pool once, so that every pool photo gets
// an out-of-fold estimate (from the one model that never saw it). Those
// estimates, not one small validation part, choose the calibration
// (global and per band, for one-pass and flip-averaged inference) and tune
// the policy, so the policy is tuned on all the pool's teenagers.
//
//   RUN_DIR/options.json         options, seed, git revision (written first)
//   RUN_DIR/folds.csv            file_name,real_age,fold (1..K, or "test": held out from every fold)
//   RUN_DIR/split.csv            train = the pool, test = the held-out part (for evaluate --split)
//   RUN_DIR/fold-k/              fold k's whole training run (trainer.h), k = 1..K
//   RUN_DIR/fold-k.split.csv     the split fold k trains on
//   RUN_DIR/predictions_oof.csv  every pool photo's out-of-fold estimate, under the tuned policy
//   RUN_DIR/student/             the distilled student's training run (unless distill is off):
//                                all pool photos, target = label mixed with the fold models' mean
//                                calibrated distribution (AgeLossOptions::distill_weight)
//   RUN_DIR/model.agm            the student with the out-of-fold calibration and policy, both
//                                inference settings: the one file to ship
//   RUN_DIR/crossfit.json        per fold: best epoch, validation MAE, wall time; out-of-fold
//                                MAE (one pass / flip), calibration, tuned policies with every rate's
//                                95% Wilson interval, for both inference settings; the student's
//                                and the fold ensemble's figures on the held-out part, measured once
//
// The held-out part is drawn exactly as a single run with the same seed and
// --test-fraction draws its test part: the same photos, read by no fold.
// Ctrl-C or a kill stops the fold in progress at its checkpoint; --resume
// skips finished folds (fold-k/model.agm exists) and resumes the one in
// progress. Progress lines name the fold and epoch; after each fold the log
// says the time spent and an estimate of the time left.
//
// Folds are independent, so they can be spread over machines: a job with
// options.fold = k trains fold k alone (folds.csv is drawn the same way on
// every machine from the same photos and seed, or read and checked when the
// folder already has it) and stops; once every fold-k folder is in one run
// folder, a job with options.gather fits the calibration on the out-of-fold
// estimates and distils the student. Gathering refuses, naming them, while
// any fold's model.agm is missing. result.folds_done is 1 after a --fold job.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "agegate/data/split.h"
#include "agegate/eval/validation_fit.h"
#include "agegate/train/trainer.h"

namespace agegate {

struct CrossFitResult {
  bool interrupted = false;
  int folds_done = 0;
  std::vector<std::filesystem::path> fold_models;  // fold-k/model.agm, k = 1..K
  std::filesystem::path model;                     // RUN/model.agm: the distilled student (empty without)
  ValidationFit oof;                               // the fit on the out-of-fold estimates (when all folds are done)
  double wall_seconds = 0;
};

// One line for one inference setting's out-of-fold fit: "one pass: MAE 4.9; <policy>: 13-17 passing h/n
// (95% upper x%), 25+ asked y% (95% upper z%)", for the log and the command's summary.
std::string describe_out_of_fold(const VariantFit& fit);

// options.folds >= 2. Throws as train() does.
CrossFitResult cross_fit(const TrainOptions& options);

// The folds.csv of a run (file_name,real_age,fold) back into folds: the
// assignment a resumed run must keep. InvalidInput naming the line for a bad row.
Folds read_folds_csv(const std::filesystem::path& path, const std::filesystem::path& data_dir, int k);
void write_folds_csv(const std::filesystem::path& path, const Folds& folds);

}  // namespace agegate

#pragma once
// Everything the maskctl library offers, for programs that use it as a whole. The library itself and
// the maskctl app include only the headers they use. Layers from the bottom up (see docs/architecture.md).

// core
#include "maskctl/core/append_file.hpp"
#include "maskctl/core/atomic_file.hpp"
#include "maskctl/core/clock.hpp"
#include "maskctl/core/config.hpp"
#include "maskctl/core/enum_names.hpp"
#include "maskctl/core/errors.hpp"
#include "maskctl/core/files.hpp"
#include "maskctl/core/folder_listing.hpp"
#include "maskctl/core/json.hpp"
#include "maskctl/core/process.hpp"
#include "maskctl/core/random.hpp"
#include "maskctl/core/run_dir.hpp"
#include "maskctl/core/threads.hpp"
#include "maskctl/core/version.hpp"
#include "maskctl/core/wall_clock.hpp"

// plot
#include "maskctl/plot/chart.hpp"
#include "maskctl/plot/plots.hpp"
#include "maskctl/plot/text.hpp"

// data
#include "maskctl/data/annotations.hpp"
#include "maskctl/data/augment.hpp"
#include "maskctl/data/dataset.hpp"
#include "maskctl/data/image.hpp"
#include "maskctl/data/inspect.hpp"
#include "maskctl/data/loader.hpp"
#include "maskctl/data/preprocess.hpp"

// model
#include "maskctl/model/classifier.hpp"
#include "maskctl/model/fused_backbone.hpp"
#include "maskctl/model/head.hpp"
#include "maskctl/model/imagenet.hpp"
#include "maskctl/model/mobilenetv2.hpp"
#include "maskctl/model/model_file.hpp"
#include "maskctl/model/tflite.hpp"

// train
#include "maskctl/train/evaluator.hpp"
#include "maskctl/train/feature_cache.hpp"
#include "maskctl/train/lr_schedule.hpp"
#include "maskctl/train/metrics.hpp"
#include "maskctl/train/trainer.hpp"

// detect
#include "maskctl/detect/action.hpp"
#include "maskctl/detect/annotate.hpp"
#include "maskctl/detect/compliance.hpp"
#include "maskctl/detect/detection_eval.hpp"
#include "maskctl/detect/detection_metrics.hpp"
#include "maskctl/detect/face_crops.hpp"
#include "maskctl/detect/face_detector.hpp"
#include "maskctl/detect/pipeline.hpp"
#include "maskctl/detect/predictions.hpp"
#include "maskctl/detect/tracker.hpp"
#include "maskctl/detect/video_source.hpp"

// serve
#include "maskctl/serve/event_log.hpp"
#include "maskctl/serve/http.hpp"
#include "maskctl/serve/live_source.hpp"
#include "maskctl/serve/metrics.hpp"
#include "maskctl/serve/predictor.hpp"
#include "maskctl/serve/server.hpp"
#include "maskctl/serve/web_assets.hpp"

// fleet
#include "maskctl/fleet/broker.hpp"
#include "maskctl/fleet/fleet_view.hpp"
#include "maskctl/fleet/mqtt_client.hpp"
#include "maskctl/fleet/mqtt_output.hpp"

// report
#include "maskctl/report/bench.hpp"
#include "maskctl/report/serve_bench.hpp"

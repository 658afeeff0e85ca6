// Private: agegate::Image (RGB) <-> cv::Mat (BGR) for the vision component.
#pragma once
#include <opencv2/core.hpp>

#include "agegate/data/image.h"

namespace agegate {

cv::Mat to_bgr_mat(const Image& img);      // a copy, CV_8UC3 BGR
Image from_bgr_mat(const cv::Mat& bgr);    // CV_8UC3 BGR -> RGB Image

}  // namespace agegate

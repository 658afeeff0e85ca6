// JPEG (TurboJPEG) and PNG (libpng) decoding and encoding to interleaved RGB8.
#include "agegate/data/image.h"

#include <png.h>
#include <turbojpeg.h>
// jpeglib only for the header's markers (Adobe APP14, APP1 Exif); pixels come from TurboJPEG.
#include <cstdio>  // jpeglib.h needs FILE
#include <jpeglib.h>
#include <libexif/exif-data.h>

#include <csetjmp>
#include <cstring>
#include <algorithm>
#include <memory>

#include "agegate/core/error.h"
#include "agegate/core/text.h"
#include "agegate/core/fs.h"

namespace agegate {
namespace {

constexpr size_t kPngSignatureBytes = 8;
constexpr int kRgbChannels = 3;
// A file larger than this is not a face photo we should try to read.
constexpr uint64_t kMaxImageFileBytes = uint64_t(256) << 20;

struct TjHandle {
  tjhandle h;
  explicit TjHandle(tjhandle handle) : h(handle) {}
  ~TjHandle() {
    if (h) tjDestroy(h);
  }
  TjHandle(const TjHandle&) = delete;
  TjHandle& operator=(const TjHandle&) = delete;
};

std::string tj_message(tjhandle h) { return tjGetErrorStr2(h); }

constexpr uint8_t kExifHeader[] = {'E', 'x', 'i', 'f', 0, 0};
constexpr int kMaxOrientation = 8;

// The orientation in an Exif block that starts with "Exif\0\0" (as the JPEG
// APP1 segment does); 1 when it has none or an invalid one. libexif parses;
// it only reads, it never repairs what it finds.
int exif_orientation(const uint8_t* data, size_t size) {
  ExifData* ed = exif_data_new();
  if (!ed) return kOrientationUpright;
  exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
  exif_data_load_data(ed, data, static_cast<unsigned int>(size));
  int orientation = kOrientationUpright;
  ExifEntry* e = exif_content_get_entry(ed->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
  if (e && e->format == EXIF_FORMAT_SHORT && e->components >= 1 && e->data && e->size >= 2) {
    orientation = exif_get_short(e->data, exif_data_get_byte_order(ed));
  }
  exif_data_unref(ed);
  return orientation >= kOrientationUpright && orientation <= kMaxOrientation ? orientation
                                                                                : kOrientationUpright;
}

bool swaps_sides(int orientation) { return orientation >= 5 && orientation <= kMaxOrientation; }

// What a JPEG's markers say beyond its pixels.
struct JpegMarkers {
  bool adobe = false;  // Adobe APP14: CMYK is stored inverted (255 = no ink)
  int orientation = kOrientationUpright;
};

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
};

[[noreturn]] void jpeg_on_error(j_common_ptr c) { std::longjmp(reinterpret_cast<JpegError*>(c->err)->jump, 1); }
void jpeg_no_message(j_common_ptr) {}

// Reads the header with jpeglib, keeping APP1. Runs under setjmp: only plain
// data lives across it. False (and defaults) when the header is unreadable;
// TurboJPEG then reports the error itself.
bool read_jpeg_markers(const uint8_t* data, size_t size, JpegMarkers* out) {
  jpeg_decompress_struct cinfo;
  JpegError err;
  cinfo.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_on_error;
  err.mgr.output_message = jpeg_no_message;
  jpeg_create_decompress(&cinfo);
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  constexpr unsigned kMaxSegment = 0xFFFF;
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, kMaxSegment);
  jpeg_read_header(&cinfo, TRUE);
  out->adobe = cinfo.saw_Adobe_marker;
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length > sizeof(kExifHeader) &&
        std::memcmp(m->data, kExifHeader, sizeof(kExifHeader)) == 0) {
      out->orientation = exif_orientation(m->data, m->data_length);
      break;
    }
  }
  jpeg_destroy_decompress(&cinfo);
  return true;
}

JpegMarkers jpeg_markers(const uint8_t* data, size_t size) {
  JpegMarkers m;
  if (!read_jpeg_markers(data, size, &m)) m = {};
  return m;
}

void check_pixels(int64_t width, int64_t height, const DecodeLimits& limits,
                  const std::string& what) {
  if (width <= 0 || height <= 0) {
    throw InvalidInput(what + ": image has no pixels (" + std::to_string(width) + "x" +
                       std::to_string(height) + ")");
  }
  if (width * height > limits.max_pixels) {
    throw InvalidInput(what + ": image is " + std::to_string(width) + "x" +
                       std::to_string(height) + ", more than the limit of " +
                       std::to_string(limits.max_pixels) + " pixels");
  }
}

// Stored (not yet oriented) size.
ImageInfo jpeg_info(tjhandle h, const uint8_t* data, size_t size, const std::string& what,
                    int* colorspace = nullptr) {
  int w = 0, ht = 0, subsamp = 0, cs = 0;
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &w, &ht, &subsamp, &cs) != 0) {
    throw InvalidInput(what + ": not a readable JPEG (" + tj_message(h) + ")");
  }
  if (colorspace) *colorspace = cs;
  return {ImageFormat::kJpeg, w, ht};
}

// TurboJPEG decodes CMYK/YCCK JPEGs only to CMYK pixels, as stored. Files
// with Adobe's APP14 marker (Photoshop's, and libjpeg's own whenever it writes
// CMYK) store them inverted: 255 means no ink, so R = C*K/255. Without the
// marker the values are plain ink amounts: R = (255-C)(255-K)/255.
void cmyk_to_rgb(const std::vector<uint8_t>& cmyk, bool inverted, std::vector<uint8_t>* rgb) {
  constexpr int kMax = 255;
  constexpr size_t kCmykChannels = 4;
  for (size_t i = 0, o = 0; i + kCmykChannels <= cmyk.size(); i += kCmykChannels, o += kRgbChannels) {
    const int k = inverted ? cmyk[i + 3] : kMax - cmyk[i + 3];
    for (int c = 0; c < kRgbChannels; ++c) {
      const int ink_free = inverted ? cmyk[i + c] : kMax - cmyk[i + c];
      (*rgb)[o + c] = static_cast<uint8_t>((ink_free * k + kMax / 2) / kMax);
    }
  }
}

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& what,
                  const DecodeLimits& limits) {
  TjHandle tj(tjInitDecompress());
  if (!tj.h) throw InvalidInput(what + ": cannot start JPEG decoder");
  int colorspace = 0;
  ImageInfo info = jpeg_info(tj.h, data, size, what, &colorspace);
  check_pixels(info.width, info.height, limits, what);
  Image img;
  img.width = info.width;
  img.height = info.height;
  img.rgb.resize(size_t(info.width) * info.height * kRgbChannels);
  const bool cmyk = colorspace == TJCS_CMYK || colorspace == TJCS_YCCK;
  std::vector<uint8_t> cmyk_pixels;
  if (cmyk) cmyk_pixels.resize(size_t(info.width) * info.height * tjPixelSize[TJPF_CMYK]);
  // Warnings (e.g. premature end of data in a truncated file) are errors here:
  // a half-grey face must not reach training or the policy.
  int rc = tjDecompress2(tj.h, data, static_cast<unsigned long>(size),
                         cmyk ? cmyk_pixels.data() : img.rgb.data(), info.width, 0, info.height,
                         cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_STOPONWARNING);
  if (rc != 0) {
    throw InvalidInput(what + ": corrupt or truncated JPEG (" + tj_message(tj.h) + ")");
  }
  const JpegMarkers markers = jpeg_markers(data, size);
  if (cmyk) cmyk_to_rgb(cmyk_pixels, markers.adobe, &img.rgb);
  if (markers.orientation != kOrientationUpright) img = apply_orientation(img, markers.orientation);
  return img;
}

// libpng reports errors through longjmp; this reader keeps the bytes and the message.
struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t pos = 0;
  std::string error;
};

void png_read_bytes(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<PngSource*>(png_get_io_ptr(png));
  if (src->size - src->pos < n) png_error(png, "unexpected end of data (truncated PNG)");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

void png_on_error(png_structp png, png_const_charp msg) {
  auto* src = static_cast<PngSource*>(png_get_error_ptr(png));
  if (src) src->error = msg ? msg : "unknown error";
  png_longjmp(png, 1);
}

void png_on_warning(png_structp, png_const_charp) {}

class PngReader {
 public:
  PngReader(const uint8_t* data, size_t size) : src_{data, size, 0, ""} {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src_, png_on_error, png_on_warning);
    if (png_) info_ = png_create_info_struct(png_);
  }
  ~PngReader() { png_destroy_read_struct(&png_, &info_, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  // Both functions run under setjmp; nothing with a destructor lives across it.
  bool read_header(ImageInfo* out) {
    if (!png_ || !info_) {
      src_.error = "cannot start PNG decoder";
      return false;
    }
    if (setjmp(png_jmpbuf(png_))) return false;
    png_set_read_fn(png_, &src_, png_read_bytes);
    png_read_info(png_, info_);
    out->format = ImageFormat::kPng;
    out->width = static_cast<int>(png_get_image_width(png_, info_));
    out->height = static_cast<int>(png_get_image_height(png_, info_));
    // An eXIf chunk before the pixels holds the Exif block without its header.
    png_uint_32 exif_size = 0;
    png_bytep exif = nullptr;
    if (png_get_eXIf_1(png_, info_, &exif_size, &exif) != 0 && exif && exif_size > 0) {
      exif_.assign(kExifHeader, kExifHeader + sizeof(kExifHeader));
      exif_.insert(exif_.end(), exif, exif + exif_size);
    }
    return true;
  }

  // The eXIf chunk's orientation (after read_header); 1 without one.
  int orientation() const { return exif_.empty() ? kOrientationUpright : exif_orientation(exif_.data(), exif_.size()); }

  bool read_rgb8(uint8_t* pixels, int width, int height) {
    if (setjmp(png_jmpbuf(png_))) return false;
    png_set_expand(png_);           // palette -> RGB, grey < 8 bit -> 8 bit, tRNS -> alpha
    png_set_strip_16(png_);
    png_set_strip_alpha(png_);
    png_set_gray_to_rgb(png_);
    png_set_interlace_handling(png_);
    png_read_update_info(png_, info_);
    if (png_get_rowbytes(png_, info_) != size_t(width) * kRgbChannels) {
      png_error(png_, "unexpected row size after conversion to RGB");
    }
    for (int pass = png_set_interlace_handling(png_); pass > 0; --pass) {
      for (int y = 0; y < height; ++y) {
        png_read_row(png_, pixels + size_t(y) * width * kRgbChannels, nullptr);
      }
    }
    png_read_end(png_, nullptr);
    return true;
  }

  const std::string& error() const { return src_.error; }

 private:
  PngSource src_;
  std::vector<uint8_t> exif_;  // "Exif\0\0" + the eXIf chunk
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

ImageInfo png_info(PngReader& reader, const std::string& what) {
  ImageInfo info;
  if (!reader.read_header(&info)) {
    throw InvalidInput(what + ": not a readable PNG (" + reader.error() + ")");
  }
  return info;
}

Image decode_png(const uint8_t* data, size_t size, const std::string& what,
                 const DecodeLimits& limits) {
  PngReader reader(data, size);
  ImageInfo info = png_info(reader, what);
  check_pixels(info.width, info.height, limits, what);
  Image img;
  img.width = info.width;
  img.height = info.height;
  img.rgb.resize(size_t(info.width) * info.height * kRgbChannels);
  if (!reader.read_rgb8(img.rgb.data(), info.width, info.height)) {
    throw InvalidInput(what + ": corrupt or truncated PNG (" + reader.error() + ")");
  }
  const int orientation = reader.orientation();
  if (orientation != kOrientationUpright) img = apply_orientation(img, orientation);
  return img;
}

void check_encodable(const Image& img, const char* format) {
  if (img.empty() || img.rgb.size() != size_t(img.width) * img.height * kRgbChannels) {
    throw InvalidInput(std::string("cannot encode ") + format + ": image is empty or its buffer (" +
                       std::to_string(img.rgb.size()) + " bytes) does not match " +
                       std::to_string(img.width) + "x" + std::to_string(img.height) + " RGB");
  }
}

void png_write_bytes(png_structp png, png_bytep data, png_size_t n) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + n);
}

void png_flush_nothing(png_structp) {}

// Runs under setjmp: only plain pointers live across it.
bool png_encode_rows(png_structp png, png_infop info, const Image* img,
                     std::vector<uint8_t>* out) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, out, png_write_bytes, png_flush_nothing);
  png_set_IHDR(png, info, img->width, img->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < img->height; ++y) {
    png_write_row(png, const_cast<png_bytep>(img->rgb.data() + size_t(y) * img->width * kRgbChannels));
  }
  png_write_end(png, nullptr);
  return true;
}

std::string lower_extension(const std::filesystem::path& path) { return to_lower(path.extension().string()); }

}  // namespace

const char* to_string(ImageFormat f) {
  switch (f) {
    case ImageFormat::kJpeg: return "jpeg";
    case ImageFormat::kPng: return "png";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

ImageFormat sniff_format(const uint8_t* data, size_t size) {
  static constexpr uint8_t kJpegMagic[] = {0xFF, 0xD8, 0xFF};
  if (data && size >= sizeof(kJpegMagic) && std::memcmp(data, kJpegMagic, sizeof(kJpegMagic)) == 0) {
    return ImageFormat::kJpeg;
  }
  if (data && size >= kPngSignatureBytes && png_sig_cmp(data, 0, kPngSignatureBytes) == 0) {
    return ImageFormat::kPng;
  }
  return ImageFormat::kUnknown;
}

ImageInfo read_image_info(const uint8_t* data, size_t size, const std::string& what) {
  ImageInfo info;
  switch (sniff_format(data, size)) {
    case ImageFormat::kJpeg: {
      TjHandle tj(tjInitDecompress());
      if (!tj.h) throw InvalidInput(what + ": cannot start JPEG decoder");
      info = jpeg_info(tj.h, data, size, what);
      info.orientation = jpeg_markers(data, size).orientation;
      break;
    }
    case ImageFormat::kPng: {
      PngReader reader(data, size);
      info = png_info(reader, what);
      info.orientation = reader.orientation();
      break;
    }
    case ImageFormat::kUnknown:
      throw InvalidInput(what + ": not a JPEG or PNG image (" + std::to_string(size) + " bytes)");
  }
  if (swaps_sides(info.orientation)) std::swap(info.width, info.height);
  return info;
}

Image apply_orientation(const Image& stored, int orientation) {
  if (orientation <= kOrientationUpright || orientation > kMaxOrientation) return stored;
  const int w = stored.width, h = stored.height;
  Image out;
  out.width = swaps_sides(orientation) ? h : w;
  out.height = swaps_sides(orientation) ? w : h;
  out.rgb.resize(stored.rgb.size());
  // For each shown pixel (x, y), the stored pixel (sx, sy) it comes from.
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;
        case 4: sy = h - 1 - y; break;
        case 5: sx = y; sy = x; break;
        case 6: sx = y; sy = h - 1 - x; break;
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;
        case 8: sx = w - 1 - y; sy = x; break;
        default: break;
      }
      const uint8_t* p = &stored.rgb[(size_t(sy) * w + sx) * kRgbChannels];
      std::copy(p, p + kRgbChannels, &out.rgb[(size_t(y) * out.width + x) * kRgbChannels]);
    }
  }
  return out;
}

Image decode_image(const uint8_t* data, size_t size, const std::string& what,
                   const DecodeLimits& limits) {
  switch (sniff_format(data, size)) {
    case ImageFormat::kJpeg: return decode_jpeg(data, size, what, limits);
    case ImageFormat::kPng: return decode_png(data, size, what, limits);
    case ImageFormat::kUnknown: break;
  }
  throw InvalidInput(what + ": not a JPEG or PNG image (" + std::to_string(size) + " bytes)");
}

Image read_image(const std::filesystem::path& path, const DecodeLimits& limits) {
  std::vector<uint8_t> bytes = read_file_bytes(path, kMaxImageFileBytes);
  return decode_image(bytes.data(), bytes.size(), path.string(), limits);
}

std::vector<uint8_t> encode_jpeg(const Image& img, int quality) {
  check_encodable(img, "JPEG");
  if (quality < 1 || quality > 100) {
    throw InvalidInput("JPEG quality " + std::to_string(quality) + " is not in 1..100");
  }
  TjHandle tj(tjInitCompress());
  if (!tj.h) throw InvalidInput("cannot start JPEG encoder");
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  int rc = tjCompress2(tj.h, img.rgb.data(), img.width, 0, img.height, TJPF_RGB, &buf, &len,
                       TJSAMP_420, quality, 0);
  std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(buf, tjFree);
  if (rc != 0) throw InvalidInput("JPEG encoding failed (" + tj_message(tj.h) + ")");
  return std::vector<uint8_t>(buf, buf + len);
}

std::vector<uint8_t> encode_png(const Image& img) {
  check_encodable(img, "PNG");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  std::vector<uint8_t> out;
  bool ok = png && info && png_encode_rows(png, info, &img, &out);
  png_destroy_write_struct(&png, &info);
  if (!ok) throw InvalidInput("PNG encoding failed");
  return out;
}

void write_image(const std::filesystem::path& path, const Image& img) {
  std::string ext = lower_extension(path);
  std::vector<uint8_t> bytes;
  if (ext == ".jpg" || ext == ".jpeg") {
    bytes = encode_jpeg(img);
  } else if (ext == ".png") {
    bytes = encode_png(img);
  } else {
    throw InvalidInput(path.string() + ": unknown image extension '" + ext + "' (use .jpg or .png)");
  }
  write_file_atomic(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace agegate

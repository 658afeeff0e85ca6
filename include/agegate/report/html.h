// A small HTML writer for the reports: escaping, the page frame with its
// style sheet, tables and figures. Pages are self-contained: images are
// referenced by relative paths inside the report folder.
//
// The page carries a tiny script that, once everything has loaded, sets
// data-images-total and data-images-ok on <body> (images with a natural
// width > 0), so a headless browser can prove every image rendered.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace agegate {

// Escapes & < > " ' for text and attribute values.
std::string html_escape(std::string_view text);

class HtmlPage {
 public:
  explicit HtmlPage(std::string title);

  void heading(std::string_view text, int level = 2);
  void paragraph(std::string_view text);
  // Items are plain text (escaped).
  void list(const std::vector<std::string>& items);
  // Cells are plain text (escaped). `caption` may be empty.
  void table(const std::vector<std::string>& header,
             const std::vector<std::vector<std::string>>& rows, std::string_view caption = "");
  // A chart drawn by draw_chart() into `folder` (relative to the page):
  // folder/name.png, with folder/name.svg linked when `svg`.
  void chart(std::string_view folder, std::string_view name, std::string_view caption, bool svg);
  // A chart: <figure> with the PNG; `svg` (may be empty) is linked below it.
  void figure(std::string_view png, std::string_view alt, std::string_view caption,
              std::string_view svg = "");
  // A photo tile for galleries; caption lines are plain text.
  struct Tile {
    std::string image;  // relative path
    std::vector<std::string> lines;
    bool highlight = false;
  };
  void gallery(const std::vector<Tile>& tiles);
  // Already-escaped HTML, for the rare case the helpers above do not cover.
  void raw(std::string_view html);

  std::string str() const;

 private:
  std::string title_;
  std::string body_;
};

}  // namespace agegate

// The self-contained HTML page builder of the reports (see html.h).
#include "agegate/report/html.h"

namespace agegate {

namespace {
constexpr const char* kStyle = R"(
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1160px;color:#222;padding:0 1em}
h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:92%}
td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}caption{text-align:left;color:#555}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{color:#555;font-size:90%}
.gallery{display:flex;flex-wrap:wrap;gap:8px}.tile{width:130px;font-size:80%;text-align:center}
.tile img{width:120px;height:120px;object-fit:cover;display:block;margin:0 auto}
.tile.hl{background:#fee}.note{color:#555}
)";

// Marks <body> so a headless browser can check that every image rendered
// and how far right the widest table reaches (the page must fit 1200 px).
constexpr const char* kImageCheck = R"(<script>
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++;
  document.body.setAttribute('data-images-total', String(imgs.length));
  document.body.setAttribute('data-images-ok', String(ok));
  var right = 0, tables = document.getElementsByTagName('table');
  for (var t = 0; t < tables.length; t++) right = Math.max(right, tables[t].getBoundingClientRect().right);
  document.body.setAttribute('data-widest-table-right', String(Math.ceil(right)));
});
</script>
)";
}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

HtmlPage::HtmlPage(std::string title) : title_(std::move(title)) {
  body_ += "<h1>" + html_escape(title_) + "</h1>\n";
}

void HtmlPage::heading(std::string_view text, int level) {
  const std::string tag = "h" + std::to_string(level);
  body_ += "<" + tag + ">" + html_escape(text) + "</" + tag + ">\n";
}

void HtmlPage::paragraph(std::string_view text) { body_ += "<p>" + html_escape(text) + "</p>\n"; }

void HtmlPage::list(const std::vector<std::string>& items) {
  body_ += "<ul>\n";
  for (const auto& item : items) body_ += "<li>" + html_escape(item) + "</li>\n";
  body_ += "</ul>\n";
}

void HtmlPage::table(const std::vector<std::string>& header,
                     const std::vector<std::vector<std::string>>& rows, std::string_view caption) {
  body_ += "<table>\n";
  if (!caption.empty()) body_ += "<caption>" + html_escape(caption) + "</caption>\n";
  body_ += "<tr>";
  for (const auto& h : header) body_ += "<th>" + html_escape(h) + "</th>";
  body_ += "</tr>\n";
  for (const auto& row : rows) {
    body_ += "<tr>";
    for (const auto& cell : row) body_ += "<td>" + html_escape(cell) + "</td>";
    body_ += "</tr>\n";
  }
  body_ += "</table>\n";
}

void HtmlPage::figure(std::string_view png, std::string_view alt, std::string_view caption,
                      std::string_view svg) {
  body_ += "<figure><img src=\"" + html_escape(png) + "\" alt=\"" + html_escape(alt) + "\">";
  body_ += "<figcaption>" + html_escape(caption);
  if (!svg.empty()) body_ += " (<a href=\"" + html_escape(svg) + "\">SVG</a>)";
  body_ += "</figcaption></figure>\n";
}

void HtmlPage::chart(std::string_view folder, std::string_view name, std::string_view caption, bool svg) {
  const std::string base = std::string(folder) + "/" + std::string(name);
  figure(base + ".png", caption, caption, svg ? base + ".svg" : "");
}

void HtmlPage::gallery(const std::vector<Tile>& tiles) {
  body_ += "<div class=\"gallery\">\n";
  for (const auto& t : tiles) {
    body_ += std::string("<div class=\"tile") + (t.highlight ? " hl" : "") + "\"><img src=\"" +
             html_escape(t.image) + "\" alt=\"photo\">";
    for (const auto& line : t.lines) body_ += "<div>" + html_escape(line) + "</div>";
    body_ += "</div>\n";
  }
  body_ += "</div>\n";
}

void HtmlPage::raw(std::string_view html) { body_ += html; }

std::string HtmlPage::str() const {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" +
         html_escape(title_) + "</title>\n<style>" + kStyle + "</style>\n" + kImageCheck +
         "</head>\n<body>\n" + body_ + "</body>\n</html>\n";
}

}  // namespace agegate

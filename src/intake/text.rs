//! Body text: charset repair for mislabelled Chinese mail, and a small
//! HTML-to-text that keeps a table form readable as "label：value" lines.

use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};

/// Longest text (in bytes) taken from one part; a form is a few kilobytes,
/// and capping keeps every later scan cheap on hostile input.
pub const MAX_TEXT_BYTES: usize = 256 * 1024;

/// Charset labels under which a U+FFFD in the decoded text most likely means
/// the bytes were really GBK/GB18030 (Chinese clients that omit or misstate it).
const GB_SUSPECT_LABELS: &[&str] =
    &["", "utf-8", "utf8", "us-ascii", "ascii", "gb2312", "gbk", "gb18030", "x-gbk", "cp936", "euc-cn"];

/// The decoded text of a text part, re-decoded as GB18030 when the declared
/// (or missing) charset produced replacement characters and GB18030 does better.
pub fn part_text(message: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    let text = match &part.body {
        PartType::Text(text) | PartType::Html(text) => text.as_ref(),
        _ => return None,
    };
    let mut text = if text.contains('\u{FFFD}') {
        regb18030(message, part).unwrap_or_else(|| text.to_owned())
    } else {
        text.to_owned()
    };
    truncate_at_char(&mut text, MAX_TEXT_BYTES);
    Some(text)
}

fn regb18030(message: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    let label = part.content_type().and_then(|ct| ct.attribute("charset")).unwrap_or("").trim().to_ascii_lowercase();
    if !GB_SUSPECT_LABELS.contains(&label.as_str()) {
        return None;
    }
    let bytes = decoded_bytes(message, part);
    let (decoded, _, _) = encoding_rs::GB18030.decode(&bytes);
    let old_bad = count_replacements(part.text_contents().unwrap_or(""));
    (count_replacements(&decoded) < old_bad).then(|| decoded.into_owned())
}

/// A part's bytes with only the transfer encoding undone (no charset decoding).
pub fn decoded_bytes(message: &Message<'_>, part: &MessagePart<'_>) -> Vec<u8> {
    let raw = message.raw_message.get(part.offset_body as usize..part.offset_end as usize).unwrap_or_default();
    match part.encoding {
        Encoding::Base64 => base64_decode(raw),
        Encoding::QuotedPrintable => quoted_printable_decode(raw),
        Encoding::None => None,
    }
    .unwrap_or_else(|| raw.to_vec())
}

fn count_replacements(text: &str) -> usize {
    text.chars().filter(|&c| c == '\u{FFFD}').count()
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn truncate_at_char(text: &mut String, max: usize) {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
}

/// Elements whose content is never text.
const SKIPPED_ELEMENTS: &[&str] = &["style", "script", "head", "title", "xml", "template"];
/// Elements that start a new line.
const BLOCK_ELEMENTS: &[&str] = &[
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
    "hr",
    "dt",
    "dd",
    "address",
    "section",
    "article",
    "center",
    "body",
];

/// Renders HTML as plain text: tags, styles, scripts and comments dropped,
/// entities decoded, block elements and `<br>` as line breaks, and each table
/// row as one "label：value" line (two cells) or cells paired up (four cells).
pub fn html_to_text(html: &str) -> String {
    let mut out = Renderer::default();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.text(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // An unclosed '<' is text, as browsers show it.
            out.text(rest);
            rest = "";
            break;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
            .collect::<String>()
            .to_ascii_lowercase();
        if !closing && SKIPPED_ELEMENTS.contains(&name.as_str()) {
            rest = skip_element(rest, &name);
            continue;
        }
        out.tag(&name, closing, is_quote_container(tag));
    }
    out.text(rest);
    out.finish()
}

/// Class and id markers of the elements clients wrap quoted history in:
/// Gmail's `gmail_quote`, QQ Mail's origin-mail container, Yahoo's, 163's
/// reply content.
const QUOTE_MARKERS: &[&str] = &[
    "gmail_quote",
    "xm_compose_origin_mail",
    "qqmail_origin",
    "yahoo_quoted",
    "isreplycontent",
    "isforwardcontent",
    "mail_quote",
    "protonmail_quote",
];

/// Whether a start tag's attributes mark quoted history.
fn is_quote_container(tag: &str) -> bool {
    let lower = tag.to_ascii_lowercase();
    (lower.contains("class") || lower.contains("id")) && QUOTE_MARKERS.iter().any(|m| lower.contains(m))
}

/// Skips to just after `</name>` (case-insensitively), or to the end.
/// Scans each byte once, so many skipped elements stay linear.
fn skip_element<'a>(rest: &'a str, name: &str) -> &'a str {
    let mut from = 0;
    while let Some(pos) = rest[from..].find("</") {
        let start = from + pos + 2;
        let candidate = rest.as_bytes().get(start..start + name.len());
        if candidate.is_some_and(|c| c.eq_ignore_ascii_case(name.as_bytes())) {
            let after = &rest[start..];
            return after.find('>').map_or("", |gt| &after[gt + 1..]);
        }
        from = start;
    }
    ""
}

/// Accumulates rendered text; table cells are collected per row.
#[derive(Default)]
struct Renderer {
    /// Finished output.
    out: String,
    /// Cells of the table row being read, when inside a `<tr>`.
    row: Option<Vec<String>>,
    /// Text of the current cell, when inside `<td>`/`<th>`.
    cell: Option<String>,
    /// Open `<blockquote>` elements: their lines are written "> …", so
    /// quoted history in HTML reads like quoted history in plain text.
    quote_depth: usize,
    /// Open `<div>`s, each whether it holds quoted history.
    divs: Vec<bool>,
}

impl Renderer {
    fn sink(&mut self) -> &mut String {
        match &mut self.cell {
            Some(cell) => cell,
            None => &mut self.out,
        }
    }

    fn text(&mut self, raw: &str) {
        if self.out.len() > MAX_TEXT_BYTES {
            return;
        }
        let decoded = decode_entities(raw);
        let quoted = self.quote_depth > 0 && self.cell.is_none();
        let sink = self.sink();
        for c in decoded.chars() {
            // Source whitespace collapses to one space, as in a browser; a
            // decoded &nbsp; is a plain space to the form reader.
            let c = if c.is_whitespace() && c != '\u{3000}' { ' ' } else { c };
            if c == ' ' && (sink.is_empty() || sink.ends_with([' ', '\n'])) {
                continue;
            }
            if quoted && (sink.is_empty() || sink.ends_with('\n')) {
                sink.push_str("> ");
            }
            sink.push(c);
        }
    }

    fn newline(&mut self) {
        let sink = self.sink();
        while sink.ends_with(' ') {
            sink.pop();
        }
        if !sink.is_empty() && !sink.ends_with('\n') {
            sink.push('\n');
        }
    }

    fn tag(&mut self, name: &str, closing: bool, quote_container: bool) {
        match (name, closing) {
            // QQ Mail puts the mail replied to in <includetail>.
            ("includetail", false) => {
                self.newline();
                self.quote_depth += 1;
            }
            ("includetail", true) => {
                self.newline();
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            ("div", false) => {
                self.newline();
                if self.divs.len() < 1000 {
                    self.divs.push(quote_container);
                }
                if quote_container {
                    self.quote_depth += 1;
                }
            }
            ("div", true) => {
                self.newline();
                if self.divs.pop() == Some(true) {
                    self.quote_depth = self.quote_depth.saturating_sub(1);
                }
            }
            ("br", _) => {
                let sink = self.sink();
                while sink.ends_with(' ') {
                    sink.pop();
                }
                sink.push('\n');
            }
            ("blockquote", false) => {
                self.newline();
                self.quote_depth += 1;
            }
            ("blockquote", true) => {
                self.newline();
                self.quote_depth = self.quote_depth.saturating_sub(1);
            }
            ("tr", false) => {
                self.end_row();
                self.row = Some(Vec::new());
            }
            ("tr", true) => self.end_row(),
            ("td" | "th", false) => {
                self.end_cell();
                if self.row.is_none() {
                    self.row = Some(Vec::new());
                }
                self.cell = Some(String::new());
            }
            ("td" | "th", true) => self.end_cell(),
            ("table", false) => {
                self.end_row();
                self.newline();
            }
            // Text after a table is not the last row's value continuing.
            ("table", true) => {
                self.end_row();
                self.newline();
                self.out.push('\n');
            }
            (name, _) if BLOCK_ELEMENTS.contains(&name) => self.newline(),
            _ => {}
        }
    }

    fn end_cell(&mut self) {
        if let Some(cell) = self.cell.take() {
            // A cell's own lines, without blank ones, so a multi-line value
            // reads as a continued field.
            let lines: Vec<&str> = cell.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
            if let Some(row) = &mut self.row {
                row.push(lines.join("\n"));
            }
        }
    }

    fn end_row(&mut self) {
        self.end_cell();
        let Some(cells) = self.row.take() else {
            return;
        };
        self.newline();
        let pairs: Vec<String> = if cells.len() >= 2 && cells.len().is_multiple_of(2) {
            cells.chunks(2).map(|pair| join_label_value(&pair[0], &pair[1])).collect()
        } else {
            // A row that is not label/value pairs (a title, a note) stands
            // apart, so it is not read as the previous field continuing.
            let text: Vec<String> = cells.into_iter().filter(|c| !c.is_empty()).collect();
            if text.is_empty() {
                return;
            }
            self.out.push('\n');
            vec![text.join(" "), String::new()]
        };
        for line in pairs {
            if self.quote_depth > 0 && !line.is_empty() {
                self.out.push_str("> ");
            }
            self.out.push_str(&line);
            self.out.push('\n');
        }
    }

    fn finish(mut self) -> String {
        self.end_row();
        let mut text = String::with_capacity(self.out.len());
        let mut blank_run = 0;
        for line in self.out.lines() {
            let line = line.trim_end();
            if line.is_empty() {
                blank_run += 1;
                if blank_run > 1 {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            text.push_str(line);
            text.push('\n');
        }
        text.trim_matches('\n').to_owned()
    }
}

/// "label" + "value" as one form line; a label cell that already ends with
/// a colon keeps it.
fn join_label_value(label: &str, value: &str) -> String {
    let label = label.trim();
    if label.is_empty() {
        return value.to_owned();
    }
    if label.ends_with([':', '：']) { format!("{label}{value}") } else { format!("{label}：{value}") }
}

/// Decodes HTML character references (named ones mail clients emit, and numeric).
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.char_indices().take(12).find(|&(_, c)| c == ';').map(|(i, _)| i);
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code).filter(|&c| c != '\0');
    }
    Some(match name {
        "nbsp" | "ensp" | "emsp" | "thinsp" => ' ',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "ldquo" => '“',
        "rdquo" => '”',
        "lsquo" => '‘',
        "rsquo" => '’',
        "middot" => '·',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "yen" => '¥',
        "copy" => '©',
        "reg" => '®',
        "times" => '×',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_become_label_value_lines() {
        let html = r#"<html><head><style>td{color:red}</style></head><body>
            <p>请处理：</p>
            <table border=1><tr><td><b>紧急程度</b></td><td>加急</td></tr>
            <tr><td>客户姓名：</td><td>马&nbsp;丽</td></tr>
            <tr><td>投诉内容</td><td><p>第一行</p><p>第二行</p></td></tr>
            <tr><td>电话</td><td>139</td><td>地区</td><td>北京</td></tr>
            <tr><td colspan=4>备注行</td></tr><tr><td>受理人</td><td>刘嘉</td></tr></table>签名
            <!-- 紧急程度：一般 --><script>var x = "<td>";</script></body></html>"#;
        assert_eq!(
            html_to_text(html),
            "请处理：\n紧急程度：加急\n客户姓名：马 丽\n投诉内容：第一行\n第二行\n电话：139\n地区：北京\n\n备注行\n\n受理人：刘嘉\n\n签名"
        );
    }

    #[test]
    fn blockquotes_read_as_quoted_lines() {
        let html = "<div>已联系用户</div><blockquote type=cite><div>紧急程度：紧急</div>\
                    <table><tr><td>客户姓名</td><td>马丽</td></tr></table>尾</blockquote>后";
        assert_eq!(html_to_text(html), "已联系用户\n> 紧急程度：紧急\n> 客户姓名：马丽\n\n> 尾\n后");
    }

    #[test]
    fn br_and_entities() {
        assert_eq!(
            html_to_text("服务站：BJ01<br>诉求：&#23613;&#x5FEB; &lt;上门&gt; &amp;c &bogus; a&b"),
            "服务站：BJ01\n诉求：尽快 <上门> &c &bogus; a&b"
        );
    }

    #[test]
    fn broken_html_does_not_lose_text() {
        assert_eq!(html_to_text("a < b <td"), "a < b <td");
        assert_eq!(html_to_text("<style>x"), "");
        assert_eq!(html_to_text("x<!-- never closed"), "x");
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let mut s = "投诉内容".to_owned();
        truncate_at_char(&mut s, 4);
        assert_eq!(s, "投");
    }
}

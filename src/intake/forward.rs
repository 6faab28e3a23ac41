//! Where quoted or forwarded history starts in a body: separator lines
//! (Foxmail/QQ "原始邮件", Outlook "-----Original Message-----", Gmail
//! "Forwarded message"), header blocks ("发件人:/发送时间:", "From:/Sent:")
//! and attribution lines ("在 … 写道：", "On … wrote:").

/// Labels that open a mail header block written into a body.
const BLOCK_FROM: &[&str] = &["发件人", "發件人", "寄件者", "寄件人", "发信人", "from"];
/// Labels that follow the sender in such a block.
const BLOCK_OTHER: &[&str] = &[
    "发送时间",
    "发送日期",
    "时间",
    "日期",
    "收件人",
    "抄送",
    "主题",
    "寄件日期",
    "收件者",
    "主旨",
    "傳送時間",
    "副本",
    "sent",
    "date",
    "to",
    "cc",
    "subject",
];
/// Endings of attribution lines.
const WROTE: &[&str] = &["写道：", "写道:", "寫道：", "寫道:", "写道", "寫道", "wrote:", "wrote"];

/// Whether the history starts at `lines[i]`.
pub fn history_starts_at(lines: &[&str], i: usize) -> bool {
    let Some(line) = lines.get(i).map(|l| l.trim()) else {
        return false;
    };
    if is_separator(line) || attribution_lines(lines, i) > 0 {
        return true;
    }
    header_label(line).is_some_and(|label| BLOCK_FROM.contains(&label.as_str()))
        && lines
            .iter()
            .skip(i + 1)
            .take(4)
            .filter_map(|l| header_label(l.trim()))
            .any(|label| BLOCK_OTHER.contains(&label.as_str()))
}

/// How many lines an attribution ("在 … 写道：", "On … wrote:") at
/// `lines[i]` spans: 0 (none), 1, or 2 when a client wrapped it.
pub fn attribution_lines(lines: &[&str], i: usize) -> usize {
    let Some(line) = lines.get(i).map(|l| l.trim()) else {
        return 0;
    };
    if ends_with_wrote(line) && line.chars().count() <= 200 {
        return 1;
    }
    let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or("");
    // Gmail and 163 wrap a long "On …, X <x@y> wrote:" over two lines.
    let opens = ["On ", "在", "At ", "於", "于"].iter().any(|w| line.starts_with(w));
    if opens && ends_with_wrote(next) { 2 } else { 0 }
}

fn ends_with_wrote(line: &str) -> bool {
    let lower = line.to_lowercase();
    WROTE.iter().any(|w| lower.ends_with(w))
}

/// Separator lines that clients put above quoted or forwarded mail.
fn is_separator(line: &str) -> bool {
    let lower = line.to_lowercase();
    let dashed = line.starts_with('-') || line.starts_with('—');
    (dashed
        && (lower.contains("原始邮件")
            || lower.contains("原始郵件")
            || lower.contains("转发邮件")
            || lower.contains("转发的邮件")
            || lower.contains("轉寄郵件")
            || lower.contains("original")
            || lower.contains("original message")
            || lower.contains("forwarded message")))
        || lower == "begin forwarded message:"
        || line.starts_with("开始转发的邮件")
        || line.starts_with("開始轉寄的郵件")
        || (line.len() >= 10 && line.chars().all(|c| c == '_'))
}

/// The lowercased label of a "Label: value" header line in a body, if the
/// line looks like one (e.g. "发件人: 刘嘉", "*From:* x", "Sent: …").
fn header_label(line: &str) -> Option<String> {
    let line = line.trim_start_matches(['*', ' ']);
    let colon = line.find([':', '：'])?;
    let label = line[..colon].trim().trim_end_matches('*').trim();
    (label.chars().count() <= 8 && !label.is_empty()).then(|| label.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(text: &str) -> Option<usize> {
        let lines: Vec<&str> = text.lines().collect();
        (0..lines.len()).find(|&i| history_starts_at(&lines, i))
    }

    #[test]
    fn foxmail_and_outlook_blocks() {
        assert_eq!(starts("已联系\n\n------------------ 原始邮件 ------------------\n发件人: x"), Some(2));
        assert_eq!(starts("ok\n-------- 原始邮件 --------"), Some(1));
        assert_eq!(
            starts("已处理\n发件人: 刘嘉 <liujia@hq.example.test>\n发送时间: 2026年11月16日 9:30\n收件人: x"),
            Some(1)
        );
        assert_eq!(starts("Done\nFrom: a@b\nSent: Monday\nTo: c"), Some(1));
        assert_eq!(starts("a\n-----Original Message-----\nFrom: x"), Some(1));
        assert_eq!(starts("a\n---------- Forwarded message ---------"), Some(1));
    }

    #[test]
    fn attribution_lines() {
        assert_eq!(starts("已联系\n在 2026-11-16 09:30:00，\"刘嘉\" <l@h> 写道："), Some(1));
        assert_eq!(starts("ok\n刘嘉 <l@h> 于2026年11月16日周一 09:30写道："), Some(1));
        assert_eq!(starts("ok\nOn Mon, Nov 16, 2026 at 9:30 AM Liu <\nl@h> wrote:"), Some(1));
    }

    #[test]
    fn a_lone_from_line_is_not_history() {
        assert_eq!(starts("From: the customer's side\n问题描述：坏了"), None);
        assert_eq!(starts("客户姓名：马丽\n联系电话：139"), None);
    }
}

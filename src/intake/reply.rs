//! Replies: their own text (history stripped) and the action its first line
//! names (forms.md "Reply words").

use crate::ticket::Action;

use super::forward::history_starts_at;

/// Reply words, simplified and traditional, longest first where one is a
/// prefix of another. English words are matched case-insensitively.
const ACTION_WORDS: &[(Action, &[&str])] = &[
    (Action::Contacted, &["已联系用户", "已联系客户", "已联系", "已聯繫", "已聯絡", "已联络", "contacted"]),
    (Action::Result, &["处理结果", "處理結果", "已处理", "已處理", "已解决", "已解決", "result", "resolved"]),
    (Action::Extension, &["申请延期", "申請延期", "延期", "extension", "extend"]),
    (Action::Close, &["结案", "結案", "close"]),
    (Action::Reopen, &["重新打开", "重新打開", "重开", "重開", "reopen"]),
];

/// Prefixes some clients or writers put before the first line's content;
/// they are not the action.
const LEAD_INS: &[&str] = &["回复", "答复", "回覆", "答覆", "re"];

/// The reply's own text: everything above the first quoted or forwarded part,
/// trimmed of blank lines at both ends.
pub fn own_text(body: &str) -> String {
    let lines: Vec<&str> = body.lines().collect();
    let end = (0..lines.len())
        .find(|&i| lines[i].trim_start().starts_with('>') || history_starts_at(&lines, i))
        .unwrap_or(lines.len());
    let own: Vec<&str> = lines[..end].iter().map(|l| l.trim_end()).collect();
    own.join("\n").trim_matches('\n').to_owned()
}

/// What the reply is, read from its first non-empty line.
pub fn action(own_text: &str) -> Action {
    for line in own_text.lines() {
        let line = strip_lead_in(line.trim());
        if line.is_empty() {
            continue;
        }
        return word_action(line).unwrap_or(Action::Update);
    }
    Action::Update
}

/// Drops "回复：" / "Re:" and opening brackets or list marks before the content.
fn strip_lead_in(line: &str) -> &str {
    let mut line = line.trim_start_matches(|c: char| c.is_whitespace() || "【[（(「*#".contains(c));
    for lead in LEAD_INS {
        let Some(head) = line.get(..lead.len()) else {
            continue;
        };
        if head.eq_ignore_ascii_case(lead) {
            let after = line[lead.len()..].trim_start();
            if let Some(rest) = after.strip_prefix([':', '：']) {
                line = rest.trim_start_matches(|c: char| c.is_whitespace() || "【[（(「*#".contains(c));
                break;
            }
        }
    }
    line
}

fn word_action(line: &str) -> Option<Action> {
    ACTION_WORDS.iter().find_map(|(action, words)| {
        words.iter().any(|w| line.get(..w.len()).is_some_and(|head| head.eq_ignore_ascii_case(w))).then_some(*action)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_words() {
        assert_eq!(action("已联系客户，明天上门。"), Action::Contacted);
        assert_eq!(action("\n\n已聯繫用戶"), Action::Contacted);
        assert_eq!(action("处理结果：已更换电池"), Action::Result);
        assert_eq!(action("Resolved, replaced the board"), Action::Result);
        assert_eq!(action("申請延期至周五"), Action::Extension);
        assert_eq!(action("延期"), Action::Extension);
        assert_eq!(action("结案，有效投诉"), Action::Close);
        assert_eq!(action("CLOSE"), Action::Close);
        assert_eq!(action("重開"), Action::Reopen);
        assert_eq!(action("客户不在家，改约明天"), Action::Update);
        assert_eq!(action(""), Action::Update);
    }

    #[test]
    fn lead_ins_are_not_the_action() {
        assert_eq!(action("回复：已联系用户"), Action::Contacted);
        assert_eq!(action("答复: 已解决"), Action::Result);
        assert_eq!(action("【已处理】更换主板"), Action::Result);
        assert_eq!(action("Re: contacted the customer"), Action::Contacted);
        assert_eq!(action("回复"), Action::Update);
    }

    #[test]
    fn quoted_history_is_stripped() {
        let body = "已联系客户，明天上午上门。\r\n\r\n> 投诉单号：HC20261116001\r\n";
        assert_eq!(own_text(body), "已联系客户，明天上午上门。");
        let body = "\n已处理\n李工\n\n在 2026-11-16 09:30:00，\"刘嘉\" <l@h> 写道：\n紧急程度：加急";
        assert_eq!(own_text(body), "已处理\n李工");
        let body = "Done\n\n-----Original Message-----\nFrom: a";
        assert_eq!(own_text(body), "Done");
    }
}
